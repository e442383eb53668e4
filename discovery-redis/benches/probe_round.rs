//! One probe round over 50 real redis-server pods on loopback. Target: < 50 ms.
//!
//! `cargo bench -p headless-discovery-redis --bench probe_round`

mod common;

use headless_discovery_testkit::measure::quantile;
use std::time::Duration;

use headless_discovery_redis::RedisConfig;
use headless_discovery_testkit::redis::RedisSpec;

const PODS: u32 = 50;
const ROUNDS: usize = 30;

fn main() {
    headless_discovery_testkit::measure::bench_runtime(false).block_on(async {
        let mut config = RedisConfig::default();
        config.roles.probe_interval = Duration::from_millis(100);
        let bench = common::start(RedisSpec::new("redis").replicas(PODS), config).await;
        let mut changes = bench.router.roles().topology_changes();
        let mut rounds = Vec::new();
        while rounds.len() < ROUNDS {
            changes.changed().await.expect("prober running");
            let topology = changes.borrow_and_update().clone();
            assert_eq!(topology.pods.len(), PODS as usize);
            assert!(topology.pods.iter().all(|p| p.is_up()), "every pod answered");
            rounds.push(topology.round);
        }
        rounds.sort_unstable();
        println!(
            "probe round over {PODS} pods ({ROUNDS} rounds): p50 {:?}, p95 {:?}, max {:?} (target < 50 ms)",
            quantile(&rounds, 0.5),
            quantile(&rounds, 0.95),
            rounds.last().copied().unwrap_or_default()
        );
    });
}
