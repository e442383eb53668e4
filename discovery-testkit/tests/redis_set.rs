//! The Redis StatefulSet: real redis-server pods whose replication stream flows as soon as
//! `start` returns.
#![cfg(feature = "redis")]

use std::time::Duration;

use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_sync_without_the_diskless_delay() -> TestResult {
    let cluster = Cluster::start().await?;
    let redis = RedisStatefulSet::start(&cluster, RedisSpec::new("redis")).await?;
    for ordinal in 0..3 {
        let mut conn = redis.connect(ordinal).await?;
        let (_, delay): (String, String) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("repl-diskless-sync-delay")
            .query_async(&mut conn)
            .await?;
        assert_eq!(delay, "0", "redis-{ordinal}: every pod can become master");
    }
    Ok(())
}

/// With diskless sync, Redis 7 sends a freshly synced replica nothing until its next
/// REPLCONF ACK (up to 1 s): a write right after `start` could sit on the master, and a
/// crash then lose it. `start` returns only once the stream is seen to flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_right_after_start_reaches_every_replica_at_once() -> TestResult {
    for round in 0..3 {
        let cluster = Cluster::start().await?;
        let redis = RedisStatefulSet::start(&cluster, RedisSpec::new("redis")).await?;
        let mut master = redis.connect(0).await?;
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(round)
            .query_async(&mut master)
            .await?;
        // Well under the 1 s a replica can wait for its stream, well over a loopback hop.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        for ordinal in 1..3 {
            let mut replica = redis.connect(ordinal).await?;
            loop {
                let got: Option<i64> = redis::cmd("GET").arg("k").query_async(&mut replica).await?;
                if got == Some(round) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "round {round}: redis-{ordinal} did not get the write"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    Ok(())
}

async fn role(
    redis: &RedisStatefulSet,
    ordinal: u32,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut conn = redis.connect(ordinal).await?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
    match role.first() {
        Some(redis::Value::BulkString(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        other => Err(format!("ROLE answered {other:?}").into()),
    }
}

/// A master frozen through a failover wakes up a master that nobody fenced, taking
/// writes; `rejoin` makes it a replica of the new master, whose full sync drops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_frozen_through_a_failover_is_unfenced_until_it_rejoins() -> TestResult {
    let cluster = Cluster::start().await?;
    let redis = RedisStatefulSet::start(&cluster, RedisSpec::new("redis")).await?;
    redis.freeze(0)?;
    // Promoting must not wait on the frozen pod, which cannot be told.
    tokio::time::timeout(Duration::from_secs(10), redis.promote(1)).await??;
    assert_eq!(role(&redis, 2).await?, "slave");
    redis.thaw(0)?;
    assert_eq!(
        role(&redis, 0).await?,
        "master",
        "nobody told the old master"
    );
    let mut old = redis.connect(0).await?;
    let _: () = redis::cmd("SET")
        .arg("stranded")
        .arg(1)
        .query_async(&mut old)
        .await?;
    redis.rejoin(0).await?;
    redis.wait_for_replication().await?;
    assert_eq!(role(&redis, 0).await?, "slave");
    let mut old = redis.connect(0).await?;
    let stranded: Option<i64> = redis::cmd("GET")
        .arg("stranded")
        .query_async(&mut old)
        .await?;
    assert_eq!(stranded, None, "the full sync dropped the unfenced write");
    Ok(())
}

/// `switchover` runs the shipped manifest's `switchover.sh`, also on a set that requires
/// a password and TLS: afterwards the candidate is the only master, every other pod
/// (the old master too) follows it with every write. The script fails unless every
/// pod's CONFIG REWRITE succeeds: the testkit's pods have a config file, as the
/// manifests' pods do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchover_runs_the_shipped_script_over_tls_with_a_password() -> TestResult {
    let cluster = Cluster::start().await?;
    let spec = RedisSpec::new("redis").password("s3cret").tls(true);
    let redis = RedisStatefulSet::start(&cluster, spec).await?;
    let mut master = redis.connect(0).await?;
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg(1)
        .query_async(&mut master)
        .await?;
    redis.switchover(2, Duration::from_secs(2)).await?;
    assert_eq!(role(&redis, 2).await?, "master");
    for ordinal in [0, 1] {
        assert_eq!(role(&redis, ordinal).await?, "slave", "redis-{ordinal}");
        let mut conn = redis.connect(ordinal).await?;
        let (_, master): (String, String) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("replicaof")
            .query_async(&mut conn)
            .await?;
        assert_eq!(
            master,
            format!("{} 6379", redis.addr(2)?.ip()),
            "redis-{ordinal}"
        );
    }
    redis.wait_for_replication().await?;
    let mut old = redis.connect(0).await?;
    let before: Option<i64> = redis::cmd("GET")
        .arg("before")
        .query_async(&mut old)
        .await?;
    assert_eq!(before, Some(1), "the old master kept what it had");
    // A second switchover, back: the state the first left is one the script accepts.
    redis.switchover(0, Duration::from_secs(2)).await?;
    assert_eq!(role(&redis, 0).await?, "master");
    assert_eq!(role(&redis, 2).await?, "slave");
    Ok(())
}
