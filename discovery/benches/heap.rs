//! Heap bytes per peer in a snapshot, measured with dhat's counting allocator.
//!
//! `cargo bench -p headless-discovery --bench heap`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use headless_discovery::{Peer, PeerSet};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    const N: u32 = 1000;
    let names: Vec<String> = (0..N)
        .map(|i| format!("redis-{i}.redis.cache.svc.cluster.local"))
        .collect();
    let before = dhat::HeapStats::get();
    let set: PeerSet = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8));
            Peer::new(name, SocketAddr::new(ip, 6379))
        })
        .collect();
    let after = dhat::HeapStats::get();
    let bytes = after.curr_bytes - before.curr_bytes;
    let per_peer = bytes as f64 / f64::from(N);
    println!(
        "heap: {N} peers in a PeerSet hold {bytes} bytes = {per_peer:.1} bytes/peer (target < 512); \
         FQDN length {} bytes",
        names[0].len()
    );
    assert_eq!(set.len(), N as usize);
    assert!(per_peer < 512.0, "{per_peer} bytes per peer");
}
