//! The testkit's DNS answers, checked on the wire against the shapes CoreDNS gives
//! (kubernetes/dns specification, CoreDNS `plugin/kubernetes`, `backend_lookup.go`).

use std::net::IpAddr;
use std::time::Duration;

use headless_discovery_testkit::{Cluster, Fault, IpFamily, StatefulSetSpec};
use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinEncodable};
use tokio::net::UdpSocket;

async fn ask(cluster: &Cluster, name: &str, rtype: RecordType) -> Message {
    ask_with(cluster, name, rtype, None)
        .await
        .expect("an answer")
}

async fn ask_with(
    cluster: &Cluster,
    name: &str,
    rtype: RecordType,
    edns: Option<u16>,
) -> Option<Message> {
    let mut query = Message::new(4242, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        query.set_edns(e);
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket
        .send_to(&query.to_bytes().expect("encode"), cluster.dns_addr())
        .await
        .expect("send");
    let mut buf = vec![0u8; 65_535];
    let (len, _) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Message::from_bytes(&buf[..len]).expect("decode"))
}

async fn cluster() -> (Cluster, headless_discovery_testkit::StatefulSet) {
    let cluster = Cluster::builder().ttl(30).start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .namespace("cache")
                .port("redis", 6379)
                .replicas(3),
        )
        .expect("statefulset");
    (cluster, set)
}

#[tokio::test]
async fn service_a_records_one_per_ready_pod() {
    let (cluster, set) = cluster().await;
    set.set_ready(2, false).expect("unready");
    let reply = ask(&cluster, "redis.cache.svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(
        reply.metadata.authoritative,
        "CoreDNS answers authoritatively for its zone"
    );
    let ips: Vec<IpAddr> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    let ready: Vec<IpAddr> = set
        .pods()
        .iter()
        .filter(|p| p.ready)
        .map(|p| p.ip)
        .collect();
    assert_eq!(ips, ready);
    assert!(reply.answers.iter().all(|r| r.ttl == 30));
}

#[tokio::test]
async fn srv_priority_0_weight_floor_100_over_n_with_glue() {
    let (cluster, set) = cluster().await;
    let reply = ask(
        &cluster,
        "_redis._tcp.redis.cache.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(reply.answers.len(), 3);
    for record in &reply.answers {
        let RData::SRV(srv) = &record.data else {
            panic!("not SRV: {record:?}")
        };
        assert_eq!((srv.priority, srv.weight, srv.port), (0, 33, 6379));
    }
    let glue: Vec<String> = reply
        .additionals
        .iter()
        .map(|r| r.name.to_ascii())
        .collect();
    for pod in set.pods() {
        assert!(
            glue.contains(&format!("{}.", pod.fqdn)),
            "glue for {}: {glue:?}",
            pod.fqdn
        );
    }

    // The bare Service name answers SRV for every endpoint x port: 3 x 2, weight 16.
    cluster
        .statefulset(
            StatefulSetSpec::new("kv")
                .port("client", 1)
                .port("peer", 2)
                .replicas(3),
        )
        .expect("statefulset");
    let reply = ask(&cluster, "kv.default.svc.cluster.local.", RecordType::SRV).await;
    assert_eq!(reply.answers.len(), 6);
    assert!(
        reply
            .answers
            .iter()
            .all(|r| matches!(&r.data, RData::SRV(s) if s.weight == 16))
    );
}

#[tokio::test]
async fn no_ready_pod_is_nxdomain_with_the_soa_ttl() {
    let (cluster, set) = cluster().await;
    set.set_all_ready(false).expect("unready");
    for (name, rtype) in [
        ("redis.cache.svc.cluster.local.", RecordType::A),
        (
            "_redis._tcp.redis.cache.svc.cluster.local.",
            RecordType::SRV,
        ),
        ("redis-0.redis.cache.svc.cluster.local.", RecordType::A),
    ] {
        let reply = ask(&cluster, name, rtype).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        let soa = reply.authorities.first().expect("SOA in authority");
        let RData::SOA(data) = &soa.data else {
            panic!("not SOA")
        };
        assert_eq!(soa.name.to_ascii(), "cluster.local.");
        assert_eq!(data.minimum, 30, "SOA minimum = TTL");
        assert_eq!((data.refresh, data.retry, data.expire), (7200, 1800, 86400));
    }
}

#[tokio::test]
async fn nodata_wrong_port_and_outside_the_zone() {
    let (cluster, _set) = cluster().await;
    let aaaa = ask(&cluster, "redis.cache.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(
        aaaa.metadata.response_code,
        ResponseCode::NoError,
        "AAAA on an IPv4 Service is NODATA"
    );
    assert!(aaaa.answers.is_empty() && !aaaa.authorities.is_empty());

    let port = ask(
        &cluster,
        "_nope._tcp.redis.cache.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(port.metadata.response_code, ResponseCode::NXDomain);

    let ns = ask(&cluster, "cache.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        ns.metadata.response_code,
        ResponseCode::NoError,
        "an empty non-terminal"
    );

    let outside = ask(&cluster, "example.com.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn ptr_names_each_pod_under_its_service() {
    let (cluster, set) = cluster().await;
    let pod = set.pod(1).expect("pod 1");
    let reverse = Name::from(pod.ip).to_ascii();
    let reply = ask(&cluster, &reverse, RecordType::PTR).await;
    let names: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(names, [format!("{}.", pod.fqdn)]);
}

#[tokio::test]
async fn ipv6_pods_get_aaaa_and_ip6_arpa() {
    let cluster = Cluster::start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("v6")
                .port("app", 80)
                .replicas(2)
                .family(IpFamily::V6),
        )
        .expect("statefulset");
    let reply = ask(&cluster, "v6.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(reply.answers.len(), 2);
    let reverse = Name::from(set.pod(0).expect("pod").ip).to_ascii();
    assert!(reverse.ends_with(".ip6.arpa."));
    assert_eq!(
        ask(&cluster, &reverse, RecordType::PTR).await.answers.len(),
        1
    );
}

#[tokio::test]
async fn udp_answers_that_do_not_fit_are_truncated() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(StatefulSetSpec::new("big").port("app", 80).replicas(40))
        .expect("statefulset");
    let plain = ask(&cluster, "big.default.svc.cluster.local.", RecordType::A).await;
    assert!(
        plain.metadata.truncation,
        "40 A records exceed 512 bytes without EDNS"
    );
    assert!(plain.answers.len() < 40);
    let edns = ask_with(
        &cluster,
        "big.default.svc.cluster.local.",
        RecordType::A,
        Some(4096),
    )
    .await
    .expect("answer");
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 40);
}

#[tokio::test]
async fn faults_and_the_query_counter() {
    let (cluster, _set) = cluster().await;
    let name = "redis.cache.svc.cluster.local.";
    cluster.set_fault(Fault::ServFail);
    assert_eq!(
        ask(&cluster, name, RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::ServFail
    );
    cluster.set_fault(Fault::Refused);
    assert_eq!(
        ask(&cluster, name, RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::Refused
    );
    cluster.set_fault(Fault::NoAnswer);
    assert!(
        ask_with(&cluster, name, RecordType::A, None)
            .await
            .is_none(),
        "no answer at all"
    );
    cluster.set_fault(Fault::Slow(Duration::from_millis(200)));
    let started = tokio::time::Instant::now();
    assert_eq!(ask(&cluster, name, RecordType::A).await.answers.len(), 3);
    assert!(started.elapsed() >= Duration::from_millis(200));
    cluster.set_fault(Fault::None);
    assert_eq!(cluster.queries(), 4);
    assert_eq!(
        cluster.queries_for("redis.cache.svc.cluster.local", RecordType::A),
        4
    );
}
