//! Resolution against the testkit DNS: every record shape a headless Service can have.

use std::net::IpAddr;
use std::time::Duration;

use discovery_e2e::{discovery, discovery_with, test_config};
use headless_discovery::{Error, PortSpec, ServiceName};
use headless_discovery_testkit::{Cluster, IpFamily, RecordType, StatefulSetSpec};

fn summary(peers: &headless_discovery::PeerSet) -> Vec<(Option<u32>, String, IpAddr, u16)> {
    peers
        .iter()
        .map(|p| (p.ordinal(), p.hostname().to_owned(), p.ip(), p.port()))
        .collect()
}

#[tokio::test]
async fn three_pods_via_srv_with_glue() {
    let cluster = Cluster::start().await.expect("cluster");
    let redis = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .namespace("cache")
                .port("redis", 6379)
                .replicas(3),
        )
        .expect("statefulset");
    let peers = discovery(&cluster)
        .resolve("_redis._tcp.redis.cache")
        .await
        .expect("resolves");

    let expected: Vec<_> = redis
        .pods()
        .iter()
        .map(|p| (Some(p.ordinal), p.name.clone(), p.ip, 6379))
        .collect();
    assert_eq!(summary(&peers), expected);
    let first = peers.first().expect("a peer");
    assert_eq!(first.fqdn(), "redis-0.redis.cache.svc.cluster.local");
    // Glue was in the Additional section: one SRV query, no per-target lookups.
    assert_eq!(
        cluster.queries(),
        1,
        "targets with glue must not be looked up again"
    );
}

#[tokio::test]
async fn bare_service_srv_and_any_port() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(StatefulSetSpec::new("web").port("http", 8080).replicas(2))
        .expect("statefulset");
    let peers = discovery(&cluster).resolve("web").await.expect("resolves");
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p.port() == 8080));
}

#[tokio::test]
async fn several_ports_need_a_choice() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .port("sentinel", 26379)
                .replicas(2),
        )
        .expect("statefulset");
    let d = discovery(&cluster);
    let err = d.resolve("redis").await.expect_err("two ports");
    assert!(matches!(err, Error::AmbiguousPort { .. }), "{err}");
    assert!(err.to_string().contains("6379, 26379"), "{err}");
    assert!(!err.is_transient());

    let sentinel = d.resolve("_sentinel._tcp.redis").await.expect("named port");
    assert!(sentinel.iter().all(|p| p.port() == 26379));
    let by_number = d.resolve("redis:6379").await.expect("numbered port");
    assert_eq!(by_number.len(), 2);
    assert!(by_number.iter().all(|p| p.port() == 6379));
}

#[tokio::test]
async fn a_port_name_the_service_lacks_is_not_an_empty_set() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(StatefulSetSpec::new("redis").port("redis", 6379))
        .expect("statefulset");
    let err = discovery(&cluster)
        .resolve("_client._tcp.redis")
        .await
        .expect_err("no such port");
    assert!(
        matches!(err, Error::PortNotFound { ref port, .. } if port == "client"),
        "{err}"
    );
}

#[tokio::test]
async fn srv_without_glue_looks_targets_up() {
    let cluster = Cluster::builder()
        .glue(false)
        .start()
        .await
        .expect("cluster");
    let set = cluster
        .statefulset(StatefulSetSpec::new("db").port("mysql", 3306).replicas(2))
        .expect("statefulset");
    let peers = discovery(&cluster)
        .resolve("_mysql._tcp.db")
        .await
        .expect("resolves");
    assert_eq!(peers.len(), 2);
    for pod in set.pods() {
        assert_eq!(peers.by_ordinal(pod.ordinal).map(|p| p.ip()), Some(pod.ip));
        assert_eq!(
            cluster.queries_for(&pod.fqdn, RecordType::A),
            1,
            "{} looked up once",
            pod.fqdn
        );
    }
    assert_eq!(
        cluster.queries(),
        3,
        "one SRV query, then one A query per target"
    );
}

#[tokio::test]
async fn no_srv_falls_back_to_addresses_and_ptr() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(StatefulSetSpec::new("kafka").replicas(3))
        .expect("statefulset without ports");
    let d = discovery(&cluster);
    let peers = d
        .resolve("kafka:9092")
        .await
        .expect("resolves through A + PTR");
    let expected: Vec<_> = set
        .pods()
        .iter()
        .map(|p| (Some(p.ordinal), p.name.clone(), p.ip, 9092))
        .collect();
    assert_eq!(summary(&peers), expected);

    let err = d.resolve("kafka").await.expect_err("no port known");
    assert!(matches!(err, Error::PortRequired { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("kafka.default.svc.cluster.local:<port>"),
        "{err}"
    );
}

#[tokio::test]
async fn dashed_ip_names_have_no_ordinal() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("cache")
                .port("memcache", 11211)
                .replicas(2)
                .hostnames(false),
        )
        .expect("statefulset");
    let peers = discovery(&cluster)
        .resolve("cache")
        .await
        .expect("resolves");
    assert_eq!(peers.len(), 2);
    for peer in &peers {
        assert_eq!(peer.ordinal(), None, "{peer:?}");
        let dashed = peer.ip().to_string().replace('.', "-");
        assert_eq!(peer.hostname(), dashed);
    }
    let ips: Vec<_> = set.pods().iter().map(|p| p.ip).collect();
    assert!(peers.iter().all(|p| ips.contains(&p.ip())));
}

#[tokio::test]
async fn ordinals_are_read_not_assumed() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(3)
                .start_ordinal(5),
        )
        .expect("statefulset");
    let peers = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect("resolves");
    let ordinals: Vec<_> = peers.iter().map(|p| p.ordinal()).collect();
    assert_eq!(ordinals, [Some(5), Some(6), Some(7)]);
    assert!(peers.by_ordinal(0).is_none());
}

#[tokio::test]
async fn ipv6_pods() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(3)
                .family(IpFamily::V6),
        )
        .expect("statefulset");
    let d = discovery(&cluster);
    let peers = d
        .resolve("_redis._tcp.redis")
        .await
        .expect("resolves via SRV + AAAA glue");
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| p.ip().is_ipv6()));
    assert_eq!(
        peers.by_ordinal(2).map(|p| p.ip()),
        set.pod(2).map(|p| p.ip)
    );
    assert!(
        peers
            .first()
            .is_some_and(|p| p.addr().to_string().starts_with("[fd00:d15c:"))
    );

    // And through AAAA + ip6.arpa PTR when there is no SRV.
    let bare = cluster
        .statefulset(
            StatefulSetSpec::new("kafka")
                .replicas(2)
                .family(IpFamily::V6),
        )
        .expect("statefulset");
    let peers = d
        .resolve("kafka:9092")
        .await
        .expect("resolves via AAAA + PTR");
    assert_eq!(
        peers.iter().map(|p| p.ordinal()).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    assert_eq!(
        peers.by_ordinal(1).map(|p| p.ip()),
        bare.pod(1).map(|p| p.ip)
    );
}

#[tokio::test]
async fn two_hundred_pods_truncate_then_tcp() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(StatefulSetSpec::new("big").port("app", 7000).replicas(200))
        .expect("statefulset");
    let peers = discovery(&cluster)
        .resolve("_app._tcp.big")
        .await
        .expect("resolves");
    assert_eq!(
        peers.len(),
        200,
        "every pod, not just those that fit in one UDP answer"
    );
    let ordinals: Vec<_> = peers.iter().filter_map(|p| p.ordinal()).collect();
    assert_eq!(ordinals, (0..200).collect::<Vec<_>>());
    assert_eq!(
        cluster.queries(),
        2,
        "one truncated UDP answer, then one TCP query"
    );
}

#[tokio::test]
async fn a_thousand_pods_overflow_one_message_and_still_resolve_whole() {
    // SRV + glue for 1000 pods is ~80 KiB: more than a DNS message holds, so even the TCP
    // answer is truncated (all SRV records, part of the glue, TC set), as CoreDNS does.
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(StatefulSetSpec::new("big").port("app", 7000).replicas(1000))
        .expect("statefulset");
    // Encoding 1000 records takes the (unoptimized) test server a while on a busy machine.
    let mut config = test_config(&cluster);
    config.query_timeout = Duration::from_secs(10);
    let d = discovery_with(config);
    let peers = d.resolve("_app._tcp.big").await.expect("resolves");
    assert_eq!(peers.len(), 1000);
    for pod in set.pods() {
        assert_eq!(
            peers.by_ordinal(pod.ordinal).map(|p| p.ip()),
            Some(pod.ip),
            "{}",
            pod.name
        );
    }
    let srv = "_app._tcp.big.default.svc.cluster.local";
    assert_eq!(
        cluster.queries_for(srv, RecordType::SRV),
        3,
        "UDP, TCP through the pool, TCP kept as is"
    );
    let addresses = "big.default.svc.cluster.local";
    assert_eq!(
        cluster.queries_for(addresses, RecordType::A),
        2,
        "the addresses complete the set (UDP, then TCP)"
    );
    let again = d.resolve("_app._tcp.big").await.expect("resolves again");
    assert_eq!(again, peers);
    assert_eq!(
        cluster.queries_for(srv, RecordType::SRV),
        4,
        "later resolutions go straight to TCP"
    );
}

#[tokio::test]
async fn no_ready_pod_is_an_empty_set() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(2),
        )
        .expect("statefulset");
    set.set_all_ready(false).expect("unready");
    let d = discovery(&cluster);
    assert!(
        d.resolve("_redis._tcp.redis")
            .await
            .expect("NXDOMAIN is an answer")
            .is_empty()
    );
    assert!(
        d.resolve("redis:6379")
            .await
            .expect("NXDOMAIN is an answer")
            .is_empty()
    );
}

#[tokio::test]
async fn publish_not_ready_addresses_lists_unready_pods() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("etcd")
                .port("client", 2379)
                .replicas(3)
                .publish_not_ready_addresses(true),
        )
        .expect("statefulset");
    set.set_ready(1, false).expect("unready");
    let peers = discovery(&cluster)
        .resolve("_client._tcp.etcd")
        .await
        .expect("resolves");
    assert_eq!(peers.len(), 3);
}

#[tokio::test]
async fn a_custom_cluster_domain_and_namespace() {
    let cluster = Cluster::builder()
        .domain("k8s.example")
        .start()
        .await
        .expect("cluster");
    cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .namespace("prod")
                .port("redis", 6379)
                .replicas(1),
        )
        .expect("statefulset");
    let mut config = test_config(&cluster);
    config.namespace = Some("prod".into());
    let d = discovery_with(config);
    let peers = d.resolve("_redis._tcp.redis").await.expect("resolves");
    assert_eq!(
        peers.first().map(|p| p.fqdn().to_owned()).as_deref(),
        Some("redis-0.redis.prod.svc.k8s.example")
    );
    let name: ServiceName = "_redis._tcp.redis.prod.svc.k8s.example."
        .parse()
        .expect("name");
    assert_eq!(
        name.port(),
        &PortSpec::Named {
            name: "redis".into(),
            protocol: "tcp".into()
        }
    );
    assert_eq!(d.resolve(name).await.expect("absolute").len(), 1);
}

#[tokio::test]
async fn dns_failures_are_transient_errors() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(StatefulSetSpec::new("redis").port("redis", 6379))
        .expect("statefulset");
    cluster.set_fault(headless_discovery_testkit::Fault::ServFail);
    let err = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("SERVFAIL");
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains("SERVFAIL") || err.to_string().contains("Server Failure"),
        "{err}"
    );

    cluster.set_fault(headless_discovery_testkit::Fault::NoAnswer);
    let err = discovery(&cluster)
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("silence");
    assert!(err.is_transient(), "{err}");
}
