//! Change propagation, from a testkit change to the subscriber's event, side by side:
//! DNS behind CoreDNS's stock cache, DNS with CoreDNS's default TTL and no cache, and
//! the EndpointSlice source. Three changes: a pod replaced with a new IP, a scale-up,
//! a pod turning unready. Each change happens on its own StatefulSet, at a spread
//! point in time, so that the refresh cycles and cache fills are not in step.
//!
//! `cargo bench -p discovery-e2e --bench propagation [-- TRIALS]` (default 20 per change)

use std::time::Duration;

use futures::StreamExt;
use headless_discovery::{Config, Discovery, PeerEvent, Source};
use headless_discovery_testkit::{
    ApiServer, Cluster, ClusterBuilder, StatefulSet, StatefulSetSpec,
};
use tokio::task::JoinSet;

/// Changes start at spread points of this window.
const SPREAD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Change {
    Replace,
    ScaleUp,
    Unready,
}

impl Change {
    const ALL: [Change; 3] = [Change::Replace, Change::ScaleUp, Change::Unready];

    fn name(self) -> &'static str {
        match self {
            Change::Replace => "pod replaced (new IP)",
            Change::ScaleUp => "scale-up",
            Change::Unready => "pod turns unready",
        }
    }

    fn apply(self, set: &StatefulSet) {
        let done = match self {
            Change::Replace => set.replace_pod(0).map(|_| ()),
            Change::ScaleUp => set.scale(3),
            Change::Unready => set.set_ready(1, false),
        };
        done.expect("change");
    }

    fn seen(self, event: &PeerEvent) -> bool {
        matches!(
            (self, event),
            (Change::Replace, PeerEvent::Changed { .. })
                | (Change::ScaleUp, PeerEvent::Added(_))
                | (Change::Unready, PeerEvent::Removed(_))
        )
    }
}

struct Case {
    name: &'static str,
    includes: &'static str,
    dns: ClusterBuilder,
    api: bool,
}

fn main() {
    let trials: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cases = [
        Case {
            name: "DNS, stock Corefile (ttl 30, cache 30, 1 CoreDNS)",
            includes: "our refresh + CoreDNS cache; no kubelet/controller delay",
            dns: Cluster::builder().stock_corefile(),
            api: false,
        },
        Case {
            name: "DNS, stock Corefile, 2 CoreDNS replicas",
            includes: "as above, each replica with its own cache",
            dns: Cluster::builder().ttl(30).cache(30, 2),
            api: false,
        },
        Case {
            name: "DNS, ttl 5 (the plugin's default), no cache",
            includes: "our refresh at the TTL; no kubelet/controller delay",
            dns: Cluster::builder().ttl(5),
            api: false,
        },
        Case {
            name: "EndpointSlice source (HTTPS watch)",
            includes: "our code + one watch event over loopback; no controller/API server delay",
            dns: Cluster::builder().ttl(5),
            api: true,
        },
    ];
    println!("{trials} changes of each kind per case, started over {SPREAD:?}; default Config\n");
    println!("| source | change | p50 | p95 | p99 | max | includes |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for case in cases {
        runtime.block_on(run_case(case, trials));
    }
}

async fn run_case(case: Case, trials: usize) {
    let cluster = case.dns.start().await.expect("cluster");
    let api = if case.api {
        Some(
            ApiServer::builder()
                .token("bench")
                .https(true)
                .start(&cluster)
                .await
                .expect("API server"),
        )
    } else {
        None
    };
    let kubeconfig =
        std::env::temp_dir().join(format!("propagation-kubeconfig-{}", std::process::id()));
    let mut config = Config::new()
        .nameserver(cluster.dns_addr())
        .namespace("default")
        .cluster_domain("cluster.local");
    if let Some(api) = &api {
        std::fs::write(&kubeconfig, api.kubeconfig("default")).expect("kubeconfig");
        config = config.source(Source::Kube).kubeconfig(&kubeconfig);
    }
    let discovery = Discovery::new(config).expect("discovery");
    let mut runs = JoinSet::new();
    for change in Change::ALL {
        for trial in 0..trials {
            let name = format!("{}-{trial}", short(change));
            let set = cluster
                .statefulset(StatefulSetSpec::new(&name).port("p", 7000).replicas(2))
                .expect("set");
            let watch = discovery
                .watch(format!("_p._tcp.{name}"))
                .await
                .expect("watch");
            let offset = SPREAD.mul_f64((trial as f64 + rand_fraction(trial)) / trials as f64);
            runs.spawn(async move {
                let mut events = watch.subscribe();
                tokio::time::sleep(offset).await;
                let at = tokio::time::Instant::now();
                change.apply(&set);
                loop {
                    match tokio::time::timeout(Duration::from_secs(120), events.next()).await {
                        Ok(Some(event)) if change.seen(&event) => return (change, at.elapsed()),
                        Ok(Some(_)) => {}
                        other => panic!("no event for {name}: {other:?}"),
                    }
                }
            });
        }
    }
    let mut delays: Vec<(usize, Duration)> = Vec::new();
    while let Some(done) = runs.join_next().await {
        let (change, delay) = done.expect("trial");
        delays.push((change as usize, delay));
    }
    let _ = std::fs::remove_file(&kubeconfig);
    for change in Change::ALL {
        let mut mine: Vec<Duration> = delays
            .iter()
            .filter(|(c, _)| *c == change as usize)
            .map(|(_, d)| *d)
            .collect();
        mine.sort_unstable();
        let pct = |p: f64| mine[((mine.len() as f64 * p).ceil() as usize).saturating_sub(1)];
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            case.name,
            change.name(),
            show(pct(0.50)),
            show(pct(0.95)),
            show(pct(0.99)),
            show(mine[mine.len() - 1]),
            case.includes
        );
    }
}

fn short(change: Change) -> &'static str {
    match change {
        Change::Replace => "replace",
        Change::ScaleUp => "scale",
        Change::Unready => "unready",
    }
}

fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// A fraction in [0, 1) per trial, without a RNG (the same spread each run).
fn rand_fraction(trial: usize) -> f64 {
    ((trial as u64 * 7919) % 1000) as f64 / 1000.0
}
