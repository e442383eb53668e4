//! Read-your-writes through a delayed replica, with and without a consistency token.

mod support;

use std::time::Duration;

use headless_discovery_mysql::ReadPolicy;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::prelude::Queryable;
use support::{eventually, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_makes_a_delayed_replica_read_see_the_write_and_without_it_the_read_is_stale() {
    let s = setup(MariaDbSpec::new("mysql").replicas(2)).await;
    s.create_table(0).await;
    s.mysql
        .delay_replica(1, Duration::from_secs(3))
        .await
        .expect("delay mysql-1");
    let mut config = s.config();
    // Reads go to mysql-1, however far behind it is: the token alone must save them.
    config.roles.read_policy = ReadPolicy::Ordinal(1);
    config.read_your_writes_wait = Duration::from_millis(500);
    let cluster = s.connect(config).await;
    // The delay restarts mysql-1's replication; its IO thread says `Preparing` for a moment.
    eventually("mysql-1 replicates again", Duration::from_secs(10), || {
        let topology = cluster.topology();
        async move {
            topology
                .fit_replicas()
                .iter()
                .any(|p| p.peer.ordinal() == Some(1))
        }
    })
    .await;

    let count = |mut conn: headless_discovery_mysql::PodConnection| async move {
        let n: Option<u64> = conn
            .query_first("SELECT COUNT(*) FROM t")
            .await
            .expect("count");
        (n.expect("a row"), conn.pod().ordinal(), conn.is_fallback())
    };

    // Without the token: the replica has not applied the write yet.
    let mut primary = cluster.primary().await.expect("primary");
    primary
        .query_drop("INSERT INTO t (v, written_on) VALUES (1, @@server_id)")
        .await
        .expect("write");
    drop(primary);
    let (seen, pod, fallback) = count(cluster.replica().await.expect("replica")).await;
    assert_eq!(
        (seen, pod, fallback),
        (0, Some(1), false),
        "the delayed replica is stale"
    );

    // With it: the replica cannot catch up within 500 ms (3 s delay), so the primary serves.
    let mut primary = cluster.primary().await.expect("primary");
    primary
        .query_drop("INSERT INTO t (v, written_on) VALUES (2, @@server_id)")
        .await
        .expect("write");
    let token = primary.token().await.expect("token");
    drop(primary);
    assert!(token.gtid().starts_with("0-100-"), "{token:?}");
    let (seen, pod, fallback) = count(cluster.replica_after(&token).await.expect("read")).await;
    assert_eq!(
        (seen, pod, fallback),
        (2, Some(0), true),
        "fell back to the primary"
    );

    // A replica that catches up within the wait serves the read itself.
    s.mysql
        .delay_replica(1, Duration::ZERO)
        .await
        .expect("undelay mysql-1");
    let mut primary = cluster.primary().await.expect("primary");
    primary
        .query_drop("INSERT INTO t (v, written_on) VALUES (3, @@server_id)")
        .await
        .expect("write");
    let token = primary.token().await.expect("token");
    drop(primary);
    let (seen, pod, fallback) = count(cluster.replica_after(&token).await.expect("read")).await;
    assert_eq!(
        (seen, pod, fallback),
        (3, Some(1), false),
        "waited on mysql-1"
    );

    let reply = cluster
        .query_after(&token, "SELECT @@server_id")
        .await
        .expect("query_after");
    assert_eq!(
        reply.rows[0].get::<u32, _>(0),
        Some(MariaDbStatefulSet::server_id(1))
    );
    let json = serde_json::to_string(&token).expect("token serializes");
    assert!(json.contains("\"mariadb\""), "{json}");
}
