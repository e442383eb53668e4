//! Read-your-writes: a token from the write's round trip sends the read to a replica
//! that has the write, or to the master. Real redis-server pods.

mod support;

use std::time::Duration;

use headless_discovery_redis::ConsistencyToken;
use headless_discovery_testkit::redis::RedisSpec;
use support::{eventually, fast_config, setup};

fn set(key: &str, value: i64) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    cmd
}

fn get(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn every_read_with_a_token_sees_its_write_and_replicas_serve_them() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut master = router.master().await.expect("master");
    let mut on_replicas = 0;
    for n in 0..50 {
        let key = format!("ryw:{n}");
        let (_, token) = master.query_with_token(&set(&key, n)).await.expect("write");
        assert!(!token.is_leader_only(), "{token:?}");
        // Across a process boundary, as a web app would carry it.
        let token: ConsistencyToken =
            serde_json::from_str(&serde_json::to_string(&token).expect("json")).expect("json");
        let mut pod = router.replica_after(&token).await.expect("read");
        let value: Option<i64> =
            redis::from_redis_value(pod.query(&get(&key)).await.expect("GET")).expect("an integer");
        assert_eq!(value, Some(n), "read on {}", pod.pod());
        if !pod.is_fallback() {
            assert_ne!(pod.pod().ordinal(), Some(0), "a replica, not the master");
            on_replicas += 1;
        }
    }
    // On loopback a replica has the write within the wait: replicas serve nearly all.
    assert!(on_replicas >= 45, "{on_replicas} of 50 reads on replicas");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_replica_frozen_the_read_goes_to_the_master_within_the_wait() {
    let s = setup(RedisSpec::new("redis")).await;
    let mut config = fast_config();
    config.read_your_writes_wait = Duration::from_millis(300);
    let wait = config.read_your_writes_wait;
    let router = s.router(config).await;
    let mut master = router.master().await.expect("master");
    s.redis.freeze(1).expect("freeze");
    s.redis.freeze(2).expect("freeze");
    let (_, token) = master.query_with_token(&set("k", 7)).await.expect("write");
    let started = tokio::time::Instant::now();
    let value = router.query_after(&token, &get("k")).await.expect("read");
    let took = started.elapsed();
    let mut pod = router.replica_after(&token).await.expect("read");
    assert!(pod.is_fallback(), "the master, visibly: {}", pod.pod());
    assert_eq!(pod.pod().ordinal(), Some(0));
    assert_eq!(redis::from_redis_value::<i64>(value).expect("int"), 7);
    let _ = pod.query(&get("k")).await.expect("GET on the master");
    // Bounded by the wait plus a connect, not by the frozen pods' response timeout.
    assert!(took < wait + Duration::from_millis(700), "took {took:?}");
    s.redis.thaw(1).expect("thaw");
    s.redis.thaw(2).expect("thaw");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_before_a_failover_still_compares_on_the_new_history() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut master = router.master().await.expect("master");
    let (_, token) = master
        .query_with_token(&set("before", 1))
        .await
        .expect("write");
    s.redis.wait_for_replication().await.expect("replicated");
    s.redis.promote(1).await.expect("redis-1 takes over");
    eventually("redis-1 seen as master", Duration::from_secs(5), || async {
        router
            .topology()
            .leader_pod()
            .and_then(|m| m.peer.ordinal())
            == Some(1)
    })
    .await;
    eventually(
        "the replicas follow redis-1",
        Duration::from_secs(5),
        || async { router.topology().fit_replicas().len() == 2 },
    )
    .await;
    // The replicas now count in redis-1's new history; the token's history is their
    // `master_replid2`, which redis-1 kept up to where it was promoted.
    let mut pod = router.replica_after(&token).await.expect("read");
    assert!(!pod.is_fallback(), "a replica can serve it: {}", pod.pod());
    let value: Option<i64> =
        redis::from_redis_value(pod.query(&get("before")).await.expect("GET")).expect("int");
    assert_eq!(value, Some(1));
}
