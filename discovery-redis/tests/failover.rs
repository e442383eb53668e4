//! Failovers, demotions and failing replicas, with real redis-server pods.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use headless_discovery_redis::{Error, ReadPolicy};
use headless_discovery_testkit::redis::RedisSpec;
use redis::AsyncCommands;
use support::{eventually, fast_config, setup, setup_with_dns};

#[tokio::test(flavor = "multi_thread")]
async fn writes_resume_on_the_new_master_after_a_failover_under_load() {
    let s = setup(RedisSpec::new("redis")).await;
    let config = fast_config();
    let bound = config.roles.failover_wait + config.response_timeout * 3 + Duration::from_secs(1);
    let router = s.router(config).await;

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged_after = Arc::new(AtomicU64::new(0));
    let promoted = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (router, stop, acknowledged_after, promoted) = (
            router.clone(),
            stop.clone(),
            acknowledged_after.clone(),
            promoted.clone(),
        );
        async move {
            let mut errors: Vec<Error> = Vec::new();
            let mut slowest = Duration::ZERO;
            let mut master = router.master().await.expect("master");
            let mut incr = redis::cmd("INCR");
            incr.arg("counter");
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let after_promotion = promoted.load(Ordering::SeqCst);
                match master.query(&incr).await {
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
    s.redis.kill(0).expect("kill the master");
    s.redis.promote(1).await.expect("promote redis-1");
    promoted.store(true, Ordering::SeqCst);
    eventually(
        "writes acknowledged by the new master",
        Duration::from_secs(10),
        || async { acknowledged_after.load(Ordering::SeqCst) >= 20 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let (errors, slowest) = writer.await.expect("writer");

    assert!(
        slowest <= bound,
        "a write blocked for {slowest:?} (bound {bound:?})"
    );
    // What was never sent waited for redis-1: only a write in flight at the kill may
    // fail, as outcome unknown, naming the dead pod.
    assert!(errors.len() <= 1, "{} errors: {errors:?}", errors.len());
    for error in &errors {
        match error {
            Error::OutcomeUnknown { pod, .. } => assert_eq!(pod.ordinal(), Some(0), "{error}"),
            other => panic!("unexpected error during the failover: {other}"),
        }
    }
    // Every write reported successful after the promotion was acknowledged by redis-1.
    let mut new_master = s.redis.connect(1).await.expect("redis-1");
    let counter: u64 = new_master.get("counter").await.expect("counter");
    assert!(
        counter >= acknowledged_after.load(Ordering::SeqCst),
        "counter {counter} < acknowledged {}",
        acknowledged_after.load(Ordering::SeqCst)
    );
    assert_eq!(
        router
            .topology()
            .leader_pod()
            .and_then(|m| m.peer.ordinal()),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_demoted_behind_the_clients_back_is_found_on_the_next_write() {
    let s = setup(RedisSpec::new("redis")).await;
    let mut config = fast_config();
    // So slow that only the READONLY reply can reveal the change.
    config.roles.probe_interval = Duration::from_secs(3600);
    let router = s.router(config).await;
    let mut master = router.master().await.expect("master");
    master
        .set::<_, _, ()>("before", 1)
        .await
        .expect("write to redis-0");
    assert_eq!(master.pod().ordinal(), Some(0));

    s.redis
        .promote(2)
        .await
        .expect("redis-2 takes over, redis-0 follows it");
    let started = Instant::now();
    master
        .set::<_, _, ()>("after", 2)
        .await
        .expect("the write is retried on the new master");
    assert_eq!(master.pod().ordinal(), Some(2), "writes now go to redis-2");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let mut direct = s.redis.connect(2).await.expect("redis-2");
    assert_eq!(
        direct.get::<_, Option<i64>>("after").await.expect("get"),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_go_on_when_a_replica_is_killed_or_frozen() {
    let s = setup(RedisSpec::new("redis")).await;
    let config = fast_config();
    let bound = config.response_timeout + config.connect_timeout + Duration::from_millis(500);
    let router = s.router(config).await;
    let mut master = router.master().await.expect("master");
    master.set::<_, _, ()>("k", "v").await.expect("write");
    s.redis.wait_for_replication().await.expect("replicated");

    s.redis.kill(1).expect("kill redis-1");
    reads_keep_working(&router, "killed", bound).await;

    s.redis.restart(1).await.expect("restart redis-1");
    s.redis.wait_for_replication().await.expect("replicated");
    s.redis.freeze(2).expect("freeze redis-2");
    reads_keep_working(&router, "frozen", bound).await;
    s.redis.thaw(2).expect("thaw");
}

/// 60 reads with `ReplicaPreferred` while one replica is `what`: each within `bound`, and
/// all but the first few (before a probe notices) served.
async fn reads_keep_working(
    router: &headless_discovery_redis::RedisRouter,
    what: &str,
    bound: Duration,
) {
    let mut failures = 0;
    for _ in 0..60 {
        let started = Instant::now();
        let read = async {
            let mut pod = router.read(&ReadPolicy::ReplicaPreferred).await.ok()?;
            pod.get::<_, Option<String>>("k").await.ok()
        };
        match read.await {
            Some(value) => assert_eq!(value.as_deref(), Some("v")),
            None => failures += 1,
        }
        assert!(
            started.elapsed() <= bound,
            "a read took {:?} with a {what} replica",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        failures <= 5,
        "{failures} failed reads with a {what} replica"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_replica_in_dns_serves_reads_without_a_restart() {
    let s = setup(RedisSpec::new("redis").replicas(2)).await;
    let router = s.router(fast_config()).await;
    assert_eq!(router.topology().pods.len(), 2);
    s.redis.add_replica().await.expect("scale up");
    // Found through DNS, probed, and serving once its initial sync is done (link up).
    eventually("redis-2 serving reads", Duration::from_secs(10), || async {
        router.read(&ReadPolicy::Ordinal(2)).await.is_ok()
    })
    .await;
    let mut pod = router
        .read(&ReadPolicy::Ordinal(2))
        .await
        .expect("redis-2 serves");
    assert_eq!(pod.pod().hostname(), "redis-2");
    let _: Option<String> = pod.get("anything").await.expect("a read on redis-2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_pod_does_not_hold_up_a_probe_round() {
    let s = setup(RedisSpec::new("redis")).await;
    let config = fast_config();
    let probe_timeout = config.roles.probe_timeout;
    let router = s.router(config).await;
    s.redis.freeze(2).expect("freeze redis-2");
    let mut changes = router.roles().topology_changes();
    let topology = loop {
        changes.changed().await.expect("prober running");
        let topology = changes.borrow_and_update().clone();
        if topology
            .pods
            .iter()
            .any(|p| p.peer.ordinal() == Some(2) && p.error.is_some())
        {
            break topology;
        }
    };
    assert!(
        topology.round <= probe_timeout + Duration::from_millis(300),
        "round took {:?}",
        topology.round
    );
    assert!(
        topology
            .leader_pod()
            .is_some_and(|m| m.peer.ordinal() == Some(0)),
        "the others still answered"
    );
    s.redis.thaw(2).expect("thaw");
}

/// A planned switchover (writes paused, candidate caught up, promoted, repointed) under a
/// write loop: every write the router acknowledged is on the new master, and the loop
/// sees only typed errors.
#[tokio::test(flavor = "multi_thread")]
async fn a_planned_switchover_loses_no_acknowledged_write() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicU64::new(0));
    let switched = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (router, stop, after, switched) = (
            router.clone(),
            stop.clone(),
            after.clone(),
            switched.clone(),
        );
        async move {
            let mut acknowledged = Vec::new();
            let mut errors: Vec<Error> = Vec::new();
            let mut master = router.master().await.expect("master");
            for i in 0u64.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let was_switched = switched.load(Ordering::SeqCst);
                let mut set = redis::cmd("SET");
                set.arg(format!("w:{i}")).arg(i);
                match master.query(&set).await {
                    Ok(_) => {
                        acknowledged.push(i);
                        if was_switched {
                            after.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) => errors.push(e),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (acknowledged, errors)
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.redis
        .switchover(1, Duration::from_secs(2))
        .await
        .expect("switchover to redis-1");
    switched.store(true, Ordering::SeqCst);
    eventually(
        "writes on the new master",
        Duration::from_secs(10),
        || async { after.load(Ordering::SeqCst) >= 20 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let (acknowledged, errors) = writer.await.expect("writer");
    for error in &errors {
        assert!(error.is_transient(), "{error}");
    }

    let mut new_master = s.redis.connect(1).await.expect("redis-1");
    let mut missing = Vec::new();
    for i in &acknowledged {
        let value: Option<u64> = new_master.get(format!("w:{i}")).await.expect("GET");
        if value != Some(*i) {
            missing.push(*i);
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are not on the new master: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
    // The old master follows the new one: nothing is writable beside it.
    let mut old = s.redis.connect(0).await.expect("redis-0");
    let refused: redis::RedisResult<()> = old.set("x", 1).await;
    assert!(refused.is_err(), "the old master still takes writes");
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_whose_replica_freezes_or_dies_under_them_go_to_the_other_replica() {
    use tower::{Service, ServiceExt};
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut master = router.master().await.expect("master");
    master.set::<_, _, ()>("k", "v").await.expect("write");
    s.redis.wait_for_replication().await.expect("replicated");
    let get = redis::cmd("GET").arg("k").to_owned();
    // Every read at once, before a probe round can see the fault: about half of them go
    // to the failing replica, through `route` and through the balanced service, and each
    // must come back from the other one.
    let reads = || {
        (0..20).map(|i| {
            let (router, get) = (router.clone(), get.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    router.route(&get).await
                } else {
                    router.replica_service().ready().await?.call(get).await
                }
            })
        })
    };
    let all_served = |reads: Vec<tokio::task::JoinHandle<Result<redis::Value, Error>>>| async {
        for read in reads {
            let value = read.await.expect("task").expect("read served elsewhere");
            assert_eq!(value, redis::Value::BulkString(b"v".to_vec()));
        }
    };
    s.redis.freeze(1).expect("freeze redis-1");
    all_served(reads().collect()).await;
    s.redis.thaw(1).expect("thaw");
    eventually("both replicas fit", Duration::from_secs(10), || async {
        router.topology().fit_replicas().len() == 2
    })
    .await;

    // Killed while reads wait on it: their connections break after the send.
    s.redis.freeze(2).expect("freeze redis-2");
    let pending: Vec<_> = reads().collect();
    // Not a wait for a condition: any interleaving of the kill with the reads must pass.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.redis.kill(2).expect("kill redis-2");
    all_served(pending).await;
}

/// A replica replaced by a pod at a new IP, then made master by a switchover. The
/// client's DNS view (TTL 30 s) still has the old address, and no request dials it: the
/// old master answers READONLY. The probe round that cannot reach the pod at its old
/// address asks DNS again, so the write lands on the new master at its new address
/// within `failover_wait`, not after the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_at_a_new_address_is_found_before_the_dns_ttl_runs_out() {
    let s = setup_with_dns(RedisSpec::new("redis"), 30, Duration::from_secs(30)).await;
    let router = s.router(fast_config()).await;
    let mut master = router.master().await.expect("master");
    let mut set = redis::cmd("SET");
    set.arg("k").arg(1);
    master.query(&set).await.expect("write on redis-0");
    let old = s.redis.addr(1).expect("redis-1");

    s.redis.kill(1).expect("kill redis-1");
    s.redis.statefulset().replace_pod(1).expect("a new IP");
    s.redis.restart(1).await.expect("redis-1 at its new IP");
    let new = s.redis.addr(1).expect("redis-1");
    assert_ne!(old, new);
    s.redis
        .switchover(1, Duration::from_secs(2))
        .await
        .expect("switchover to redis-1");

    let mut set = redis::cmd("SET");
    set.arg("k").arg(2);
    master
        .query(&set)
        .await
        .expect("the write waits for redis-1 at its new address");
    assert_eq!(
        router.topology().leader_pod().map(|p| p.peer.addr()),
        Some(new)
    );
    let mut conn = s.redis.connect(1).await.expect("redis-1");
    let value: Option<u32> = conn.get("k").await.expect("GET");
    assert_eq!(value, Some(2));
}
