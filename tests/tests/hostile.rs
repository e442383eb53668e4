//! A DNS server that lies: out-of-zone targets, contradictory answers, odd rcodes and
//! odd names, scripted per question on the testkit's server. Nothing here mocks our
//! resolver: every answer goes over the wire and through hickory as in production.

use std::net::IpAddr;
use std::time::Duration;

use discovery_e2e::{discovery, eventually, wait_for_queries};
use headless_discovery::{Contradiction, DnsFailure, Error, PeerSet, Watch};
use headless_discovery_testkit::{
    Cluster, RecordType, ScriptedRecord as R, ScriptedReply, StatefulSet, StatefulSetSpec,
};

const SRV: &str = "_redis._tcp.redis.default.svc.cluster.local";
const SERVICE: &str = "redis.default.svc.cluster.local";

fn pod(host: &str) -> String {
    format!("{host}.{SERVICE}")
}

async fn redis(cluster: &Cluster) -> StatefulSet {
    cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(3),
        )
        .expect("statefulset")
}

fn ip(set: &StatefulSet, ordinal: u32) -> IpAddr {
    set.pod(ordinal).expect("pod").ip
}

fn v4(ip: IpAddr) -> std::net::Ipv4Addr {
    match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => panic!("the testkit gives IPv4 pods by default"),
    }
}

fn hosts(peers: &PeerSet) -> Vec<(Option<u32>, String)> {
    peers
        .iter()
        .map(|p| (p.ordinal(), p.hostname().to_owned()))
        .collect()
}

fn contradiction(error: &Error) -> Option<&Contradiction> {
    match error {
        Error::Dns {
            failure: DnsFailure::Contradictory(why),
            ..
        } => Some(why),
        _ => None,
    }
}

/// Answers the Service's SRV question with `reply`.
fn lie(cluster: &Cluster, reply: ScriptedReply) {
    cluster.script(SRV, RecordType::SRV, reply).expect("script");
}

/// Answers both address questions of `name` with `reply`.
fn lie_about_addresses(cluster: &Cluster, name: &str, reply: impl Fn() -> ScriptedReply) {
    for rtype in [RecordType::A, RecordType::AAAA] {
        cluster.script(name, rtype, reply()).expect("script");
    }
}

/// Waits until the watch is degraded, then checks it kept `peers`.
async fn degraded_keeping(watch: &Watch, peers: &PeerSet) -> String {
    let reason = eventually(
        "the watch reports the broken answer",
        Duration::from_secs(10),
        || async { watch.health().error().map(|e| e.to_string()) },
    )
    .await;
    assert_eq!(&watch.peers(), peers, "the last good set stays");
    reason
}

#[tokio::test]
async fn srv_targets_outside_the_service_are_never_peers() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    let foreign = "redis-0.redis.kube-system.svc.cluster.local";
    lie(
        &cluster,
        ScriptedReply::records([
            R::srv(SRV, 6379, &pod("redis-1")),
            R::srv(SRV, 6379, "evil.example.com"),
            R::srv(SRV, 6379, foreign),
            R::srv(SRV, 6379, &format!("deeper.{}", pod("redis-2"))),
        ])
        .with_additional(R::a(&pod("redis-1"), v4(ip(&set, 1))))
        .with_additional(R::a("evil.example.com", [127, 9, 9, 9]))
        .with_additional(R::a(foreign, [127, 9, 9, 8])),
    );
    let d = discovery(&cluster);
    let peers = d.resolve("_redis._tcp.redis").await.expect("resolves");
    assert_eq!(hosts(&peers), [(Some(1), "redis-1".to_owned())]);
    assert_eq!(peers.first().map(|p| p.ip()), Some(ip(&set, 1)));

    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    assert_eq!(watch.health().rejected(), 3, "{}", watch.health());
    assert!(watch.health().is_healthy());
}

#[tokio::test]
async fn an_answer_of_foreign_targets_only_keeps_the_last_good_set() {
    let cluster = Cluster::start().await.expect("cluster");
    let _set = redis(&cluster).await;
    let d = discovery(&cluster);
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    let good = watch.peers();
    assert_eq!(good.len(), 3);

    let foreign_only = ScriptedReply::records([R::srv(SRV, 6379, "evil.example.com")])
        .with_additional(R::a("evil.example.com", [127, 9, 9, 9]));
    lie(&cluster, foreign_only);
    let error = d
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("no pod named");
    assert_eq!(
        contradiction(&error),
        Some(&Contradiction::NoUsableRecord { rejected: 1 }),
        "{error}"
    );
    let reason = degraded_keeping(&watch, &good).await;
    assert!(reason.contains("no SRV record names a pod"), "{reason}");
}

#[tokio::test]
async fn srv_targets_without_addresses_are_a_broken_answer_not_an_empty_set() {
    let cluster = Cluster::start().await.expect("cluster");
    let _set = redis(&cluster).await;
    let d = discovery(&cluster);
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    let good = watch.peers();

    // Targets without glue whose own names answer NODATA, and one in a CNAME loop.
    let ghost = pod("redis-7");
    let looped = pod("redis-8");
    lie(
        &cluster,
        ScriptedReply::records([R::srv(SRV, 6379, &ghost), R::srv(SRV, 6379, &looped)]),
    );
    lie_about_addresses(&cluster, &ghost, ScriptedReply::nodata);
    lie_about_addresses(&cluster, &looped, || {
        ScriptedReply::records([R::cname(&looped, &looped)])
    });
    let error = d.resolve("_redis._tcp.redis").await.expect_err("broken");
    assert_eq!(
        contradiction(&error),
        Some(&Contradiction::TargetsWithoutAddress {
            targets: vec![ghost.clone(), looped.clone()]
        }),
        "{error}"
    );
    degraded_keeping(&watch, &good).await;
    // The CLI's `resolve` path is the same call: it can no longer print `[]`.
}

#[tokio::test]
async fn an_srv_target_of_root_is_no_pod() {
    let cluster = Cluster::start().await.expect("cluster");
    let _set = redis(&cluster).await;
    lie(&cluster, ScriptedReply::records([R::srv(SRV, 6379, ".")]));
    let error = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("`.` means no service, not no pod");
    assert_eq!(
        contradiction(&error),
        Some(&Contradiction::NoUsableRecord { rejected: 1 })
    );
}

#[tokio::test]
async fn a_truncated_srv_answer_with_no_addresses_is_broken() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    lie(
        &cluster,
        ScriptedReply::records([R::srv(SRV, 6379, &pod("redis-0"))])
            .with_additional(R::a(&pod("redis-0"), v4(ip(&set, 0))))
            .truncated(),
    );
    lie_about_addresses(&cluster, SERVICE, ScriptedReply::nodata);
    let error = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("broken");
    assert_eq!(
        contradiction(&error),
        Some(&Contradiction::NoAddresses),
        "{error}"
    );
}

#[tokio::test]
async fn records_under_a_failure_rcode_are_not_believed() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    let d = discovery(&cluster);
    let pod_zero = || {
        ScriptedReply::records([R::srv(SRV, 6379, &pod("redis-0"))])
            .with_additional(R::a(&pod("redis-0"), v4(ip(&set, 0))))
    };
    for rcode in [11, 15] {
        lie(&cluster, pod_zero().with_rcode(rcode));
        let error = d
            .resolve("_redis._tcp.redis")
            .await
            .expect_err("a failure code");
        assert!(
            matches!(&error, Error::Dns { failure: DnsFailure::ServerError { rcode: got }, .. } if *got == rcode),
            "rcode {rcode}: {error}"
        );
        assert!(error.is_transient());
    }
    // Rcode 15 without records is a failure too, not NODATA ("give a port").
    lie(&cluster, ScriptedReply::nodata().with_rcode(15));
    let error = d
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("a failure code");
    assert!(error.to_string().contains("rcode 15"), "{error}");

    // NXDOMAIN means what it says, records or not: the Service's own name decides.
    lie(&cluster, pod_zero().with_rcode(3));
    for rtype in [RecordType::A, RecordType::AAAA] {
        let with_records = ScriptedReply::records([R::a(SERVICE, v4(ip(&set, 0)))]).with_rcode(3);
        cluster
            .script(SERVICE, rtype, with_records)
            .expect("script");
    }
    let peers = d
        .resolve("_redis._tcp.redis")
        .await
        .expect("NXDOMAIN is an answer");
    assert!(peers.is_empty(), "{peers:?}");
}

#[tokio::test]
async fn odd_names_ports_and_addresses_are_dropped_or_given_no_ordinal() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    let escaped = format!("red\\.is-1.{SERVICE}");
    let double = pod("redis--1");
    lie(
        &cluster,
        ScriptedReply::records([
            R::srv(SRV, 6379, &escaped),
            R::srv(SRV, 6379, &double),
            R::srv(SRV, 0, &pod("redis-2")),
            R::srv(SRV, 6379, &pod("redis-0")),
        ])
        .with_additional(R::a(&escaped, v4(ip(&set, 1))))
        .with_additional(R::a(&double, v4(ip(&set, 1))))
        .with_additional(R::a(&pod("redis-2"), v4(ip(&set, 2))))
        // IPv4-mapped IPv6 glue: no pod has it; the pod's own A record is used.
        .with_additional(R::aaaa(&pod("redis-0"), v4(ip(&set, 0)).to_ipv6_mapped())),
    );
    let d = discovery(&cluster);
    let peers = d.resolve("_redis._tcp.redis").await.expect("resolves");
    assert_eq!(
        hosts(&peers),
        [
            (Some(0), "redis-0".to_owned()),
            (None, "redis--1".to_owned())
        ]
    );
    assert_eq!(peers.by_ordinal(0).map(|p| p.ip()), Some(ip(&set, 0)));
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    assert_eq!(
        watch.health().rejected(),
        3,
        "escaped dot, port 0, mapped AAAA"
    );
}

#[tokio::test]
async fn two_addresses_named_alike_by_ptr_resolve_the_same_way_every_time() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    // No SRV: the A + PTR path, and redis-1's address claims redis-0's name.
    cluster
        .script(SERVICE, RecordType::SRV, ScriptedReply::nodata())
        .expect("script");
    cluster
        .script(
            &R::reverse_name(ip(&set, 1)),
            RecordType::PTR,
            ScriptedReply::records([R::ptr_for(ip(&set, 1), &pod("redis-0"))]),
        )
        .expect("script");
    let d = discovery(&cluster);
    let first = d.resolve("redis:6379").await.expect("resolves");
    for _ in 0..30 {
        assert_eq!(d.resolve("redis:6379").await.expect("resolves"), first);
    }
    let (low, high) = if ip(&set, 0) < ip(&set, 1) {
        (ip(&set, 0), ip(&set, 1))
    } else {
        (ip(&set, 1), ip(&set, 0))
    };
    assert_eq!(first.by_ordinal(0).map(|p| p.ip()), Some(low));
    let dashed = first
        .iter()
        .find(|p| p.ip() == high)
        .expect("no address is lost");
    assert_eq!(dashed.ordinal(), None, "{dashed:?}");
    assert_eq!(first.len(), 3);
}

#[tokio::test]
async fn nodata_for_a_named_port_says_what_happened() {
    let cluster = Cluster::start().await.expect("cluster");
    let _set = redis(&cluster).await;
    lie(&cluster, ScriptedReply::nodata());
    let error = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("NODATA");
    assert!(matches!(error, Error::NoSrvRecords { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("exists but has no SRV records"),
        "{message}"
    );
}

/// An SRV answer that does not fit in one message even over TCP (TC set both ways, as
/// CoreDNS sends for a thousand pods), scripted small so the test stays fast.
fn oversized(set: &StatefulSet) -> ScriptedReply {
    ScriptedReply::records([R::srv(SRV, 6379, &pod("redis-0"))])
        .with_additional(R::a(&pod("redis-0"), v4(ip(set, 0))))
        .truncated()
}

#[tokio::test]
async fn a_shrinking_set_goes_back_to_udp() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    lie(&cluster, oversized(&set));
    let d = discovery(&cluster);
    let peers = d.resolve("_redis._tcp.redis").await.expect("resolves");
    assert_eq!(peers.len(), 3, "completed from the A records");
    let srv = || cluster.queries_for(SRV, RecordType::SRV);
    assert_eq!(srv(), 3, "UDP, TCP through hickory, TCP kept as is");

    // The set shrinks: the answer fits again. One more query goes straight to TCP, sees
    // that, and the next ones are UDP.
    cluster.unscript(SRV, RecordType::SRV);
    let tcp = cluster.tcp_queries();
    assert_eq!(
        d.resolve("_redis._tcp.redis")
            .await
            .expect("resolves")
            .len(),
        3
    );
    assert_eq!(cluster.tcp_queries(), tcp + 1, "straight to TCP once more");
    for _ in 0..3 {
        assert_eq!(
            d.resolve("_redis._tcp.redis")
                .await
                .expect("resolves")
                .len(),
            3
        );
    }
    assert_eq!(cluster.tcp_queries(), tcp + 1, "then UDP again");
    assert_eq!(srv(), 3 + 4);
}

#[tokio::test]
async fn a_set_still_too_large_retries_udp_after_a_bounded_number_of_queries() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    lie(&cluster, oversized(&set));
    let d = discovery(&cluster);
    for _ in 0..20 {
        assert_eq!(
            d.resolve("_redis._tcp.redis")
                .await
                .expect("resolves")
                .len(),
            3
        );
    }
    // 1st: UDP + TCP + TCP; 16 straight to TCP; 18th: UDP again (+ TCP + TCP); 2 on TCP.
    assert_eq!(cluster.queries_for(SRV, RecordType::SRV), 3 + 16 + 3 + 2);
}

#[tokio::test]
async fn healthy_refreshes_wake_no_health_subscriber() {
    let cluster = Cluster::builder().ttl(0).start().await.expect("cluster");
    let _set = redis(&cluster).await;
    let d = discovery(&cluster);
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    let mut health = watch.health_changes();
    health.borrow_and_update();
    let srv_queries = cluster.queries_for(SRV, RecordType::SRV);
    wait_for_queries(
        &cluster,
        SRV,
        RecordType::SRV,
        srv_queries + 4,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        !health.has_changed().expect("watch lives"),
        "no news, no wake-up"
    );
    assert!(watch.health().is_healthy());

    cluster.set_fault(headless_discovery_testkit::Fault::ServFail);
    tokio::time::timeout(Duration::from_secs(5), health.changed())
        .await
        .expect("degraded is news")
        .expect("watch lives");
    assert!(health.borrow_and_update().is_degraded());
}

#[tokio::test]
async fn too_many_pods_for_one_message_says_so() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = redis(&cluster).await;
    lie(&cluster, oversized(&set));
    // Not even the addresses fit: TC set over TCP too, with what fitted.
    let partial = ScriptedReply::records([R::a(SERVICE, v4(ip(&set, 0)))]).truncated();
    cluster
        .script(SERVICE, RecordType::A, partial)
        .expect("script");
    let error = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("too large");
    assert!(
        matches!(
            &error,
            Error::Dns {
                failure: DnsFailure::TooLarge { records: 1 },
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("1 records arrived") && message.contains("about 4000 IPv4 pods"),
        "{message}"
    );
    assert!(!message.contains("retry over TCP failed"), "{message}");
}
