//! The Redis StatefulSet: real redis-server pods whose replication stream flows as soon as
//! `start` returns.
#![cfg(feature = "redis")]

use std::time::Duration;

use discovery_testkit::Cluster;
use discovery_testkit::redis::{RedisSpec, RedisStatefulSet};

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
