//! Change propagation: from a testkit change to the subscriber's event, with TTL 1 s.
//! Prints p50/p95/max over the trials; the target is p95 <= 1.25 s.
//!
//! `cargo bench -p headless-discovery --bench propagation`

use std::time::Duration;

use futures::StreamExt;
use headless_discovery::{Config, Discovery, PeerEvent};
use headless_discovery_testkit::{Cluster, StatefulSetSpec};

const TRIALS: usize = 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
        let set = cluster
            .statefulset(StatefulSetSpec::new("redis").port("redis", 6379).replicas(3))
            .expect("statefulset");
        let mut config = Config::default();
        config.nameserver = Some(cluster.dns_addr());
        config.namespace = Some("default".into());
        config.cluster_domain = Some("cluster.local".into());
        let discovery = Discovery::new(config).expect("discovery");
        let watch = discovery.watch("_redis._tcp.redis").await.expect("watch");
        let mut events = watch.subscribe();

        let mut delays = Vec::with_capacity(TRIALS);
        for trial in 0..TRIALS {
            // Change at a random point of the refresh cycle, as real changes happen.
            tokio::time::sleep(Duration::from_millis(rand_ms(trial))).await;
            let at = tokio::time::Instant::now();
            set.replace_pod((trial % 3) as u32).expect("replace");
            match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
                Ok(Some(PeerEvent::Changed { .. })) => delays.push(at.elapsed()),
                other => panic!("expected a change, got {other:?}"),
            }
        }
        delays.sort_unstable();
        let pct = |p: f64| delays[((delays.len() as f64 * p).ceil() as usize).saturating_sub(1)];
        println!(
            "propagation with TTL 1 s over {TRIALS} changes: p50 {:?}, p95 {:?}, max {:?} (target p95 <= 1.25 s)",
            pct(0.50),
            pct(0.95),
            delays[delays.len() - 1]
        );
    });
}

/// A spread of start offsets over one refresh period, without a RNG dependency.
fn rand_ms(trial: usize) -> u64 {
    ((trial as u64 * 7919) % 1000) + 1
}
