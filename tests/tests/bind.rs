//! Resolve and watch against BIND 9, a standards-compliant authoritative server: the
//! behaviour comes from DNS semantics, not from the testkit's emulation.

use std::net::IpAddr;
use std::time::Duration;

use discovery_e2e::bind::{Bind, ZonePod, ZoneService};
use discovery_e2e::eventually;
use futures::StreamExt;
use headless_discovery::{Config, Discovery, PeerEvent};
use headless_discovery_testkit::AddressPool;

fn pods(pool: &AddressPool, name: &str, ordinals: std::ops::Range<u32>) -> Vec<ZonePod> {
    ordinals
        .map(|i| ZonePod {
            hostname: format!("{name}-{i}"),
            ip: IpAddr::V4(pool.next_v4().expect("address")),
        })
        .collect()
}

fn client(bind: &Bind) -> Discovery {
    let mut config = Config::default();
    config.nameserver = Some(bind.addr());
    config.namespace = Some("default".into());
    config.cluster_domain = Some("cluster.local".into());
    config.min_refresh = Duration::from_millis(200);
    config.empty_grace = Duration::from_millis(500);
    config.query_timeout = Duration::from_millis(500);
    config.backoff_initial = Duration::from_millis(100);
    config.backoff_max = Duration::from_millis(500);
    Discovery::new(config).expect("client")
}

/// Waits until `named` answers (it loads zones after it starts).
async fn ready(bind: &Bind, discovery: &Discovery, name: &str) -> headless_discovery::PeerSet {
    eventually(
        &format!("named answering for {name}\n{}", bind.log()),
        Duration::from_secs(10),
        || async { discovery.resolve(name).await.ok().filter(|p| !p.is_empty()) },
    )
    .await
}

#[tokio::test]
async fn srv_and_address_fallback_against_bind() {
    let pool = AddressPool::new().expect("addresses");
    let redis = ZoneService {
        name: "redis".into(),
        port: Some(("redis".into(), 6379)),
        pods: pods(&pool, "redis", 0..3),
    };
    let kafka = ZoneService {
        name: "kafka".into(),
        port: None,
        pods: pods(&pool, "kafka", 3..5),
    };
    let bind = Bind::start(1, &[redis.clone(), kafka.clone()]);
    let d = client(&bind);

    let peers = ready(&bind, &d, "_redis._tcp.redis").await;
    let got: Vec<_> = peers
        .iter()
        .map(|p| (p.ordinal(), p.ip(), p.port()))
        .collect();
    let want: Vec<_> = redis
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| (Some(i as u32), p.ip, 6379))
        .collect();
    assert_eq!(got, want);

    // No SRV: A + PTR recovers the names, and ordinals that start at 3.
    let peers = d.resolve("kafka:9092").await.expect("A + PTR");
    let got: Vec<_> = peers
        .iter()
        .map(|p| (p.ordinal(), p.hostname().to_owned(), p.ip()))
        .collect();
    let want: Vec<_> = kafka
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| (Some(i as u32 + 3), p.hostname.clone(), p.ip))
        .collect();
    assert_eq!(got, want);

    assert!(
        d.resolve("_redis._tcp.nothing")
            .await
            .expect("NXDOMAIN is an answer")
            .is_empty()
    );
}

async fn next(events: &mut headless_discovery::Subscription) -> PeerEvent {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("a change within a few refreshes")
        .expect("the watch lives")
}

#[tokio::test]
async fn watch_follows_zone_changes_on_bind() {
    let pool = AddressPool::new().expect("addresses");
    let mut redis = ZoneService {
        name: "redis".into(),
        port: Some(("redis".into(), 6379)),
        pods: pods(&pool, "redis", 0..2),
    };
    let mut bind = Bind::start(1, std::slice::from_ref(&redis));
    let d = client(&bind);
    ready(&bind, &d, "_redis._tcp.redis").await;
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    let mut events = watch.subscribe();

    redis.pods.extend(pods(&pool, "redis", 2..3));
    bind.publish(std::slice::from_ref(&redis));
    assert!(matches!(next(&mut events).await, PeerEvent::Added(p) if p.ordinal() == Some(2)));

    let new_ip = IpAddr::V4(pool.next_v4().expect("address"));
    redis.pods[0].ip = new_ip;
    bind.publish(std::slice::from_ref(&redis));
    assert!(
        matches!(next(&mut events).await, PeerEvent::Changed { new, .. } if new.ip() == new_ip && new.ordinal() == Some(0))
    );

    redis.pods.clear();
    bind.publish(std::slice::from_ref(&redis));
    for _ in 0..3 {
        assert!(matches!(next(&mut events).await, PeerEvent::Removed(_)));
    }
    assert!(watch.peers().is_empty());
    assert!(
        watch.health().is_healthy(),
        "NXDOMAIN from BIND is an answer"
    );
}
