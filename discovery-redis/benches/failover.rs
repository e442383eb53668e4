//! Failover: from a replica's promotion (old master SIGKILLed) to the first successful
//! write through the router, p95 over 10 trials. Target: <= 1.5 x probe interval.
//!
//! `cargo bench -p headless-discovery-redis --bench failover`

mod common;

use headless_discovery_testkit::measure::quantile;
use std::time::{Duration, Instant};

use headless_discovery_redis::RedisConfig;
use headless_discovery_testkit::redis::RedisSpec;
use redis::AsyncCommands;

const TRIALS: u32 = 10;

fn main() {
    headless_discovery_testkit::measure::bench_runtime(false).block_on(async {
        let config = RedisConfig::default();
        let interval = config.roles.probe_interval;
        let bench = common::start(RedisSpec::new("redis").replicas(3), config).await;
        let mut times = Vec::new();
        let mut master_ordinal = 0u32;
        for trial in 0..TRIALS {
            let next = (master_ordinal + 1) % 3;
            let mut writer = bench.router.master().await.expect("master");
            writer.set::<_, _, ()>("warm", trial).await.expect("write before");
            bench.redis.kill(master_ordinal).expect("kill the master");
            bench.redis.promote(next).await.expect("promote");
            let promoted = Instant::now();
            loop {
                match writer.set::<_, _, ()>("after", trial).await {
                    Ok(()) if writer.pod().ordinal() == Some(next) => break,
                    _ => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
            times.push(promoted.elapsed());
            // Bring the old master back as a replica of the new one for the next trial.
            bench.redis.restart(master_ordinal).await.expect("restart");
            bench.redis.make_replica_of(master_ordinal, next).await.expect("repoint");
            bench.redis.wait_for_replication().await.expect("replicated");
            master_ordinal = next;
        }
        times.sort_unstable();
        println!(
            "failover (SIGKILL master, promote replica) to first write on the new master, {TRIALS} trials: p50 {:?}, p95 {:?}, max {:?}; probe interval {interval:?}, target p95 <= {:?}",
            quantile(&times, 0.5),
            quantile(&times, 0.95),
            times.last().copied().unwrap_or_default(),
            interval.mul_f64(1.5)
        );
    });
}
