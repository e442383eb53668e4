//! Resolve latency against the testkit DNS, next to a raw hickory SRV lookup of the same
//! name on the same server in the same run (the baseline).
//!
//! `cargo bench -p discovery --bench resolve`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use discovery::{Config, Discovery};
use discovery_testkit::{Cluster, StatefulSetSpec};
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

fn resolve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("resolve");
    group.measurement_time(Duration::from_secs(8));
    for pods in [3u32, 1000] {
        let (cluster, discovery, hickory) = runtime.block_on(async {
            let cluster = Cluster::start().await.expect("cluster");
            cluster
                .statefulset(
                    StatefulSetSpec::new("redis")
                        .port("redis", 6379)
                        .replicas(pods),
                )
                .expect("statefulset");
            let mut config = Config::default();
            config.nameserver = Some(cluster.dns_addr());
            config.namespace = Some("default".into());
            config.cluster_domain = Some("cluster.local".into());
            let discovery = Discovery::new(config).expect("discovery");
            let hickory = raw_hickory(&cluster);
            (cluster, discovery, hickory)
        });
        let name = "_redis._tcp.redis.default.svc.cluster.local.";
        runtime.block_on(async {
            let peers = discovery.resolve(name).await.expect("resolve");
            assert_eq!(peers.len(), pods as usize);
            let raw = hickory.srv_lookup(name).await.expect("raw lookup");
            assert_eq!(raw.answers().len(), pods as usize);
        });
        group.bench_with_input(
            BenchmarkId::new("hickory_srv_lookup", pods),
            &pods,
            |b, _| {
                b.to_async(&runtime)
                    .iter(|| async { hickory.srv_lookup(name).await.expect("raw lookup") });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("discovery_resolve", pods),
            &pods,
            |b, _| {
                b.to_async(&runtime)
                    .iter(|| async { discovery.resolve(name).await.expect("resolve") });
            },
        );
        drop(cluster);
    }
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
