//! Roles, writes and balanced reads against real mariadbd pods.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use headless_discovery_mysql::headless_discovery::roles::Role;
use headless_discovery_mysql::{LeaderChoice, ReadPolicy, Statement};
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::prelude::Queryable;
use support::{eventually, setup};

fn server(ordinal: u32) -> u32 {
    MariaDbStatefulSet::server_id(ordinal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_at_ordinal_zero_then_at_one_after_a_promotion() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    let cluster = s.connect(s.config()).await;
    let topology = cluster.topology();
    let roles: Vec<_> = topology.pods.iter().map(|p| p.role()).collect();
    assert_eq!(
        roles,
        [Some(Role::Leader), Some(Role::Replica), Some(Role::Replica)]
    );
    assert_eq!(
        topology.leader_pod().map(|p| p.peer.ordinal()),
        Some(Some(0))
    );
    let replica = &topology.pods[1];
    let report = replica.report.as_ref().expect("report");
    assert!(report.read_only);
    assert!(report.gtid_position.is_some(), "{report:?}");
    assert!(replica.follows(&topology.pods[0].peer));
    assert_eq!(replica.lag.time, Some(Duration::ZERO));

    s.mysql.promote(1).await.expect("promote mysql-1");
    let mut changes = cluster.roles().topology_changes();
    eventually("mysql-1 is primary", Duration::from_secs(5), || {
        let topology = changes.borrow_and_update().clone();
        async move {
            topology.leader_pod().and_then(|p| p.peer.ordinal()) == Some(1)
                && topology.pods[0].role() == Some(Role::Replica)
                && topology.pods[2].role() == Some(Role::Replica)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_land_on_the_primary_and_reads_spread_over_the_replicas() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let cluster = s.connect(s.config()).await;

    for v in 0..50 {
        cluster
            .execute(
                Statement::new("INSERT INTO t (v, written_on) VALUES (?, @@server_id)")
                    .with_params((v,)),
            )
            .await
            .expect("insert");
    }
    s.mysql.wait_for_replication().await.expect("replicated");
    for ordinal in 0..3 {
        assert_eq!(
            s.writers(ordinal).await,
            BTreeMap::from([(server(0), 50)]),
            "every row was executed by mysql-0, as pod {ordinal} sees it"
        );
    }

    // 1000 reads from 8 concurrent tasks, as a service under load makes them: PeakEwma
    // weighs each replica's latency by the reads it has in flight. (One task reading in
    // sequence would rightly stick to whichever replica answered fastest last.)
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..125 {
                    let reply = cluster.query("SELECT @@server_id").await.expect("read");
                    ids.push(reply.rows[0].get::<u32, _>(0).expect("server id"));
                }
                ids
            })
        })
        .collect();
    let mut served: BTreeMap<u32, u32> = BTreeMap::new();
    for task in tasks {
        for id in task.await.expect("reader") {
            *served.entry(id).or_default() += 1;
        }
    }
    assert_eq!(
        served.get(&server(0)),
        None,
        "reads leave the primary alone: {served:?}"
    );
    for ordinal in [1, 2] {
        let share = served.get(&server(ordinal)).copied().unwrap_or(0);
        assert!(
            share >= 200,
            "mysql-{ordinal} served {share} of 1000: {served:?}"
        );
    }

    // Each policy does what its doc says.
    let on = |policy: ReadPolicy| {
        let cluster = cluster.clone();
        async move {
            let mut conn = cluster.read(&policy).await.expect("read");
            let id: Option<u32> = conn.query_first("SELECT @@server_id").await.expect("query");
            id.expect("server id")
        }
    };
    assert_eq!(on(ReadPolicy::Leader).await, server(0));
    assert_eq!(on(ReadPolicy::LeaderPreferred).await, server(0));
    assert_eq!(on(ReadPolicy::Ordinal(2)).await, server(2));
    assert_ne!(on(ReadPolicy::Replica).await, server(0));
    let lowest = cluster
        .topology()
        .pods
        .iter()
        .min_by_key(|p| p.latency)
        .map(|p| p.peer.ordinal());
    let lowest_id = on(ReadPolicy::LowestLatency).await;
    assert!(lowest.is_some() && [0, 1, 2].map(server).contains(&lowest_id));
    assert_eq!(
        on(ReadPolicy::custom(|p| p.hostname() == "mysql-1")).await,
        server(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_and_stopped_replicas_get_no_reads_then_reads_fall_back_or_fail() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let mut config = s.config();
    config.roles.max_lag = Some(Duration::from_secs(1));
    let cluster = s.connect(config).await;

    s.mysql.stop_sql_thread(2).await.expect("stop SQL thread");
    s.mysql
        .delay_replica(1, Duration::from_secs(30))
        .await
        .expect("delay");
    // Lag only grows with writes the delayed replica has not applied.
    eventually("mysql-1 lags past 1 s", Duration::from_secs(10), || {
        let cluster = cluster.clone();
        async move {
            let _ = cluster
                .execute("INSERT INTO t (v, written_on) VALUES (1, @@server_id)")
                .await;
            cluster.topology().pods[1]
                .lag
                .time
                .is_some_and(|lag| lag > Duration::from_secs(1))
        }
    })
    .await;
    let topology = cluster.topology();
    assert_eq!(
        topology.pods[2].lag.time, None,
        "a stopped SQL thread has no lag figure"
    );

    for _ in 0..20 {
        let reply = cluster
            .query("SELECT @@server_id")
            .await
            .expect("fallback read");
        assert_eq!(
            reply.rows[0].get::<u32, _>(0),
            Some(server(0)),
            "ReplicaPreferred falls back to the primary"
        );
    }
    let conn = cluster.replica().await.expect("fallback conn");
    assert!(conn.is_fallback());
    drop(conn);

    let error = cluster
        .read(&ReadPolicy::Replica)
        .await
        .expect_err("no fit replica");
    let text = error.to_string();
    assert!(
        text.contains("mysql-1 is") && text.contains("behind"),
        "{text}"
    );
    assert!(text.contains("mysql-2 is not replicating"), "{text}");
    assert!(error.is_transient());

    s.mysql.start_sql_thread(2).await.expect("start SQL thread");
    eventually("mysql-2 serves reads again", Duration::from_secs(5), || {
        let cluster = cluster.clone();
        async move {
            match cluster.read(&ReadPolicy::Replica).await {
                Ok(mut conn) => {
                    conn.query_first::<u32, _>("SELECT @@server_id")
                        .await
                        .ok()
                        .flatten()
                        == Some(server(2))
                }
                Err(_) => false,
            }
        }
    })
    .await;
    assert_eq!(
        cluster.topology().leader,
        LeaderChoice::One(cluster.topology().pods[0].peer.key())
    );
}
