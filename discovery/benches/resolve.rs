//! Resolve latency against the testkit DNS, next to a raw hickory SRV lookup of the same
//! name on the same server in the same run (the baseline).
//!
//! `cargo bench -p headless-discovery --bench resolve`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use headless_discovery::{Config, Discovery};
use headless_discovery_testkit::{Cluster, StatefulSetSpec};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};

fn raw_hickory(cluster: &Cluster) -> TokioResolver {
    let addr = cluster.dns_addr();
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0; // like discovery: every lookup asks the server
    Resolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .expect("hickory resolver")
}

/// A testkit cluster with `pods` pods of StatefulSet `name`, a discovery client and a raw
/// hickory resolver both pointed at it.
fn setup(
    runtime: &tokio::runtime::Runtime,
    domain: &str,
    name: &str,
    pods: u32,
) -> (Cluster, Discovery, TokioResolver) {
    runtime.block_on(async {
        let cluster = Cluster::builder()
            .domain(domain)
            .start()
            .await
            .expect("cluster");
        cluster
            .statefulset(
                StatefulSetSpec::new(name)
                    .namespace("d")
                    .port("p", 6379)
                    .replicas(pods),
            )
            .expect("statefulset");
        let mut config = Config::default();
        config.nameserver = Some(cluster.dns_addr());
        config.namespace = Some("d".into());
        config.cluster_domain = Some(domain.into());
        let discovery = Discovery::new(config).expect("discovery");
        let hickory = raw_hickory(&cluster);
        (cluster, discovery, hickory)
    })
}

fn resolve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("resolve");
    group.measurement_time(Duration::from_secs(8));

    // 3 pods, and 700 pods: the most whose SRV answer with glue still fits in one DNS
    // message (~56 KiB over TCP with short names; 1000 never fit, see below). Both sides
    // make the same queries: UDP, then TCP when truncated.
    for (pods, domain, name) in [(3u32, "cluster.local", "redis"), (700, "l", "r")] {
        let (cluster, discovery, hickory) = setup(&runtime, domain, name, pods);
        let srv = format!("_p._tcp.{name}.d.svc.{domain}.");
        runtime.block_on(async {
            let peers = discovery.resolve(srv.as_str()).await.expect("resolve");
            assert_eq!(peers.len(), pods as usize);
            let raw = hickory.srv_lookup(srv.as_str()).await.expect("raw lookup");
            assert_eq!(raw.answers().len(), pods as usize);
            assert_eq!(raw.additionals().len(), pods as usize, "all glue fits");
        });
        group.bench_with_input(
            BenchmarkId::new("hickory_srv_lookup", pods),
            &pods,
            |b, _| {
                b.to_async(&runtime)
                    .iter(|| async { hickory.srv_lookup(srv.as_str()).await.expect("raw lookup") });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("discovery_resolve", pods),
            &pods,
            |b, _| {
                b.to_async(&runtime)
                    .iter(|| async { discovery.resolve(srv.as_str()).await.expect("resolve") });
            },
        );
        drop(cluster);
    }

    // 1000 pods with everyday names: SRV + glue is ~80 KiB, more than a DNS message can
    // carry, so even the TCP answer is truncated. A raw hickory SRV lookup fails
    // (NetError::Truncated); discovery completes the set from the A records plus PTR for
    // the pods whose glue was cut. No same-work baseline exists; the raw lookup's failing
    // round trips are shown for scale.
    let (cluster, discovery, hickory) = setup(&runtime, "cluster.local", "redis", 1000);
    let srv = "_p._tcp.redis.d.svc.cluster.local.";
    runtime.block_on(async {
        assert_eq!(discovery.resolve(srv).await.expect("resolve").len(), 1000);
        assert!(
            hickory.srv_lookup(srv).await.is_err(),
            "hickory cannot take a truncated TCP answer"
        );
    });
    group.bench_function("hickory_srv_lookup_fails/1000_oversized", |b| {
        b.to_async(&runtime)
            .iter(|| async { hickory.srv_lookup(srv).await.is_err() });
    });
    group.bench_function("discovery_resolve/1000_oversized", |b| {
        b.to_async(&runtime)
            .iter(|| async { discovery.resolve(srv).await.expect("resolve") });
    });
    drop(cluster);
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
