//! Failovers, demotions behind the client's back, and frozen pods, with real mariadbd pods.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use headless_discovery_mysql::{Error, Statement};
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::prelude::Queryable;
use support::{eventually, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_resume_on_the_new_primary_after_a_failover_under_load() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let config = s.config();
    let bound = config.roles.failover_wait + config.query_timeout + config.connect_timeout * 2;
    let cluster = s.connect(config).await;

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged_after = Arc::new(AtomicU64::new(0));
    let promoted = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (cluster, stop, acknowledged_after, promoted) = (
            cluster.clone(),
            stop.clone(),
            acknowledged_after.clone(),
            promoted.clone(),
        );
        async move {
            let mut errors: Vec<Error> = Vec::new();
            let mut slowest = Duration::ZERO;
            let insert = Statement::new("INSERT INTO t (v, written_on) VALUES (1, @@server_id)");
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let after_promotion = promoted.load(Ordering::SeqCst);
                match cluster.execute(insert.clone()).await {
                    Ok(_) if after_promotion => {
                        acknowledged_after.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (errors, slowest)
        }
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    s.mysql.kill(0).expect("kill the primary");
    s.mysql.promote(1).await.expect("promote mysql-1");
    promoted.store(true, Ordering::SeqCst);
    eventually(
        "writes acknowledged by the new primary",
        Duration::from_secs(15),
        || async { acknowledged_after.load(Ordering::SeqCst) >= 20 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let (errors, slowest) = writer.await.expect("writer");

    assert!(
        slowest <= bound,
        "a write blocked for {slowest:?} (bound {bound:?})"
    );
    // What was never sent waited for mysql-1: only a statement in flight at the kill
    // may fail, as outcome unknown, naming the dead pod.
    assert!(errors.len() <= 1, "{} errors: {errors:?}", errors.len());
    for error in &errors {
        match error {
            Error::OutcomeUnknown { pod, .. } => assert_eq!(pod.ordinal(), Some(0), "{error}"),
            other => panic!("unexpected error during the failover: {other}"),
        }
    }
    // Every write acknowledged after the promotion is on mysql-1, executed there.
    let on_new_primary = s
        .writers(1)
        .await
        .get(&MariaDbStatefulSet::server_id(1))
        .copied()
        .unwrap_or(0);
    assert!(
        on_new_primary >= acknowledged_after.load(Ordering::SeqCst),
        "{on_new_primary} rows < {} acknowledged",
        acknowledged_after.load(Ordering::SeqCst)
    );
    assert_eq!(
        cluster
            .topology()
            .leader_pod()
            .and_then(|p| p.peer.ordinal()),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_1290_without_a_dns_change_reprobes_and_the_retry_reaches_the_new_primary() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let mut config = s.config();
    // So slow that only the 1290 reply can reveal the change.
    config.roles.probe_interval = Duration::from_secs(3600);
    let cluster = s.connect(config).await;
    let reply = cluster
        .execute("INSERT INTO t (v, written_on) VALUES (1, @@server_id)")
        .await
        .expect("write to mysql-0");
    assert_eq!(reply.pod.ordinal(), Some(0));

    s.mysql
        .promote(2)
        .await
        .expect("mysql-2 takes over, mysql-0 turns read-only and follows it");
    let started = Instant::now();
    let reply = cluster
        .execute("INSERT INTO t (v, written_on) VALUES (2, @@server_id)")
        .await
        .expect("the write is retried on the new primary");
    assert_eq!(reply.pod.ordinal(), Some(2), "writes now go to mysql-2");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let writers = s.writers(2).await;
    assert_eq!(writers.get(&MariaDbStatefulSet::server_id(2)), Some(&1));

    // A raw connection's 1290, handed to `observe`, re-probes just as well. A request
    // made during a round asks for one more, so the retry above may leave a round to run
    // shortly after it: wait until rounds are quiet, after which only `observe` (the
    // timer is an hour) can show the client the next promotion.
    rounds_settled(&cluster, Duration::from_millis(500)).await;
    s.mysql.promote(1).await.expect("mysql-1 takes over");
    let mut stale = cluster
        .primary()
        .await
        .expect("still mysql-2 for the client");
    assert_eq!(stale.pod().ordinal(), Some(2));
    let refused = stale
        .query_drop("INSERT INTO t (v, written_on) VALUES (3, @@server_id)")
        .await
        .expect_err("mysql-2 is read-only now");
    drop(stale);
    cluster.observe(&refused);
    eventually(
        "the client follows mysql-1",
        Duration::from_secs(3),
        || async {
            cluster
                .topology()
                .leader_pod()
                .and_then(|p| p.peer.ordinal())
                == Some(1)
        },
    )
    .await;
}

/// Waits until no probe round has been published for `quiet`, within 5 s.
async fn rounds_settled(cluster: &headless_discovery_mysql::MySqlRouter, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = cluster.topology().probed_at;
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        assert!(Instant::now() < deadline, "probe rounds kept running");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let probed_at = cluster.topology().probed_at;
        if probed_at != last {
            last = probed_at;
            since = Instant::now();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_holds_up_neither_probes_nor_reads() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    let config = s.config();
    let probe_timeout = config.roles.probe_timeout;
    let cluster = s.connect(config).await;
    s.mysql.freeze(2).expect("freeze mysql-2");
    let mut changes = cluster.roles().topology_changes();
    let topology = loop {
        changes.changed().await.expect("prober running");
        let topology = changes.borrow_and_update().clone();
        if topology.pods[2].error.is_some() {
            break topology;
        }
    };
    assert!(
        topology.round <= probe_timeout + Duration::from_millis(300),
        "round took {:?}",
        topology.round
    );
    assert_eq!(
        topology.leader_pod().and_then(|p| p.peer.ordinal()),
        Some(0)
    );
    for _ in 0..50 {
        let started = Instant::now();
        let reply = cluster.query("SELECT @@server_id").await.expect("read");
        assert_eq!(reply.pod.ordinal(), Some(1), "only mysql-1 is fit");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    s.mysql.thaw(2).expect("thaw");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_whose_replica_freezes_or_dies_under_them_go_to_the_other_replica() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    let mut config = s.config();
    config.query_timeout = Duration::from_secs(1);
    let cluster = s.connect(config).await;
    // Every read at once, before a probe round can see the fault: about half of them go
    // to the failing replica, and each must come back from the other one.
    let reads_all_served_by = |ordinal: u32| {
        let cluster = &cluster;
        async move {
            let reads = (0..20).map(|_| cluster.query("SELECT @@server_id"));
            for reply in futures::future::join_all(reads).await {
                let reply = reply.expect("read served elsewhere");
                assert_eq!(reply.pod.ordinal(), Some(ordinal), "{reply:?}");
            }
        }
    };
    s.mysql.freeze(1).expect("freeze mysql-1");
    reads_all_served_by(2).await;
    s.mysql.thaw(1).expect("thaw");
    eventually("both replicas fit", Duration::from_secs(10), || async {
        cluster.topology().fit_replicas().len() == 2
    })
    .await;

    // Killed while reads wait on it: their connections break after the send.
    s.mysql.freeze(2).expect("freeze mysql-2");
    let reads: Vec<_> = (0..20)
        .map(|_| {
            let cluster = cluster.clone();
            tokio::spawn(async move { cluster.query("SELECT @@server_id").await })
        })
        .collect();
    // Not a wait for a condition: any interleaving of the kill with the reads must pass.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.mysql.kill(2).expect("kill mysql-2");
    for read in reads {
        let reply = read.await.expect("task").expect("read served elsewhere");
        assert_eq!(reply.pod.ordinal(), Some(1), "{reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_during_a_split_brain_that_settles_in_time_waits_and_lands_once() {
    use headless_discovery::roles::LeaderChoice;

    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let mut config = s.config();
    config.roles.failover_wait = Duration::from_secs(20);
    let cluster = s.connect(config).await;
    cluster
        .execute("INSERT INTO t (v, written_on) VALUES (0, @@server_id)")
        .await
        .expect("write before");
    s.mysql.wait_for_replication().await.expect("replicated");

    // mysql-0 frozen and failed over from, with no replica left to say which primary is
    // right (mysql-2 is down): thawed, it is a second writable primary.
    s.mysql.kill(2).expect("kill mysql-2");
    s.mysql.freeze(0).expect("freeze mysql-0");
    s.mysql.promote(1).await.expect("promote mysql-1");
    s.mysql.thaw(0).expect("thaw mysql-0");
    eventually("two claimants", Duration::from_secs(10), || async {
        matches!(cluster.topology().leader, LeaderChoice::Ambiguous(_))
    })
    .await;

    let write = tokio::spawn({
        let cluster = cluster.clone();
        async move {
            cluster
                .execute("INSERT INTO t (v, written_on) VALUES (1, @@server_id)")
                .await
        }
    });
    // Nothing goes to either claimant while they both claim it: the write waits.
    s.mysql
        .rejoin(0)
        .await
        .expect("mysql-0 rebuilt as mysql-1's replica");

    let reply = write
        .await
        .expect("task")
        .expect("the settled primary takes the write");
    assert_eq!(reply.pod.ordinal(), Some(1));
    assert_eq!(
        s.writers(1).await.values().sum::<u64>(),
        2,
        "the write before and this one, applied once"
    );
}
