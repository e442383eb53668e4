//! Arbitrary bytes as the DNS server's answer to every query (its ID patched to match),
//! resolved through the real client over loopback UDP: never a panic, never a peer
//! outside the Service, never a duplicate or an address no pod can have.
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use headless_discovery::{Config, Discovery};
use libfuzzer_sys::fuzz_target;

const SUFFIX: &str = ".redis.default.svc.cluster.local";

static ANSWER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct World {
    runtime: tokio::runtime::Runtime,
    discovery: Discovery,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr: SocketAddr = socket.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut query = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut query) {
                let mut answer = ANSWER.lock().map(|a| a.clone()).unwrap_or_default();
                if n >= 2 && answer.len() >= 2 {
                    answer[..2].copy_from_slice(&query[..2]);
                }
                let _ = socket.send_to(&answer, from);
            }
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = Config::default();
        config.nameserver = Some(addr);
        config.namespace = Some("default".into());
        config.cluster_domain = Some("cluster.local".into());
        config.query_timeout = Duration::from_millis(50);
        let discovery = {
            let _guard = runtime.enter();
            Discovery::new(config).expect("client")
        };
        World { runtime, discovery }
    })
}

fuzz_target!(|answer: &[u8]| {
    let world = world();
    if let Ok(mut current) = ANSWER.lock() {
        *current = answer.to_vec();
    }
    let Ok(peers) = world.runtime.block_on(world.discovery.resolve("_redis._tcp.redis")) else {
        return;
    };
    let mut names = HashSet::new();
    for peer in &peers {
        let hostname = peer.fqdn().strip_suffix(SUFFIX).expect("a pod of this Service");
        assert_eq!(hostname, peer.hostname());
        assert!(names.insert(peer.fqdn().to_owned()), "duplicate {peer:?}");
        assert_ne!(peer.port(), 0);
        let ip = peer.ip();
        assert!(!ip.is_unspecified() && !ip.is_multicast(), "{peer:?}");
        if let IpAddr::V6(v6) = ip {
            assert!(v6.to_ipv4_mapped().is_none(), "{peer:?}");
        }
    }
});
