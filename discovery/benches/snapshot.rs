//! Diffing two 1000-peer snapshots (the work done for every subscriber on every change).
//!
//! `cargo bench -p headless-discovery --bench snapshot`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{Criterion, criterion_group, criterion_main};
use headless_discovery::{Peer, PeerSet};

fn peers(n: u32, moved: impl Fn(u32) -> bool) -> PeerSet {
    (0..n)
        .map(|i| {
            let last = if moved(i) { 200 } else { 10 };
            let ip = IpAddr::V4(Ipv4Addr::new(10, last, (i >> 8) as u8, i as u8));
            Peer::new(
                &format!("redis-{i}.redis.cache.svc.cluster.local"),
                SocketAddr::new(ip, 6379),
            )
        })
        .collect()
}

fn diff(c: &mut Criterion) {
    let before = peers(1000, |_| false);
    // A rolling update in progress: 10 % of the pods moved; plus a scale from 1000 to 1000
    // with 50 gone at the top and 50 new.
    let after: PeerSet = peers(1050, |i| i % 10 == 0)
        .iter()
        .skip(50)
        .cloned()
        .collect();
    let same = peers(1000, |_| false);
    c.bench_function("diff_1000_peers_10pct_changed", |b| {
        b.iter(|| before.diff(&after))
    });
    c.bench_function("diff_1000_peers_unchanged", |b| {
        b.iter(|| before.diff(&same))
    });
    c.bench_function("build_snapshot_1000_peers", |b| {
        b.iter(|| peers(1000, |_| false))
    });
}

criterion_group!(benches, diff);
criterion_main!(benches);
