//! Property tests of answer handling: arbitrary DNS answers (records, rcodes, TC bit,
//! glue, target lookups), encoded by hickory on the testkit's server and sent over the
//! wire, must never give a peer outside the Service, an ordinal outside the StatefulSet
//! grammar, a duplicate, or a different set for the same answer. These are the CI gate;
//! `fuzz/` has the same checks for longer coverage-guided runs.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use discovery_e2e::discovery;
use headless_discovery::{Discovery, PeerSet};
use headless_discovery_testkit::{Cluster, RecordType, ScriptedRecord, ScriptedReply};
use proptest::prelude::*;

const SRV: &str = "_redis._tcp.redis.default.svc.cluster.local";
const SUFFIX: &str = ".redis.default.svc.cluster.local";

/// One cluster and client for every case (each case scripts its own answers).
struct World {
    runtime: tokio::runtime::Runtime,
    cluster: Cluster,
    discovery: Discovery,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let cluster = runtime.block_on(Cluster::start()).expect("cluster");
        let discovery = {
            let _guard = runtime.enter();
            discovery(&cluster)
        };
        World {
            runtime,
            cluster,
            discovery,
        }
    })
}

/// Names an answer may carry: this Service's pods, odd labels, other namespaces and
/// zones, deeper names, the root.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..6).prop_map(|n| format!("redis-{n}{SUFFIX}")),
        2 => "[a-z0-9-]{1,12}".prop_map(|l| format!("{l}{SUFFIX}")),
        1 => prop::sample::select(vec![
            "redis--1", "redis-01", "red\\.is-1", "REDIS-2", "redis-4294967296", "x_y-1",
        ])
        .prop_map(|l| format!("{l}{SUFFIX}")),
        1 => Just("redis-0.redis.kube-system.svc.cluster.local".to_owned()),
        1 => Just("evil.example.com".to_owned()),
        1 => (0u32..3).prop_map(|n| format!("a.redis-{n}{SUFFIX}")),
        1 => Just(".".to_owned()),
    ]
}

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        6 => (1u8..250).prop_map(|b| IpAddr::V4(Ipv4Addr::new(127, 77, 0, b))),
        1 => prop::sample::select(vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            IpAddr::V6(Ipv4Addr::new(127, 77, 0, 9).to_ipv6_mapped()),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7)),
        ]),
    ]
}

fn rcode() -> impl Strategy<Value = u16> {
    prop_oneof![8 => Just(0u16), 1 => prop::sample::select(vec![1u16, 2, 3, 5, 9, 11, 15])]
}

/// How a target without glue answers its own A/AAAA query.
#[derive(Debug, Clone)]
enum Own {
    Zone,
    NoData,
    NxDomain,
    Address(IpAddr),
    Loop,
}

fn own() -> impl Strategy<Value = Own> {
    prop_oneof![
        Just(Own::Zone),
        Just(Own::NoData),
        Just(Own::NxDomain),
        address().prop_map(Own::Address),
        Just(Own::Loop),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    rcode: u16,
    truncated: bool,
    srvs: Vec<(String, u16, Option<IpAddr>)>,
    glue: Vec<(String, IpAddr)>,
    own: Vec<(String, Own)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        rcode(),
        prop::bool::weighted(0.1),
        prop::collection::vec(
            (
                target(),
                prop::sample::select(vec![0u16, 6379, 6379, 7000]),
                prop::option::weighted(0.8, address()),
            ),
            0..8,
        ),
        prop::collection::vec((target(), address()), 0..4),
        prop::collection::vec((target(), own()), 0..6),
    )
        .prop_map(|(rcode, truncated, srvs, glue, own)| Case {
            rcode,
            truncated,
            srvs,
            glue,
            own,
        })
}

fn script(cluster: &Cluster, case: &Case) {
    cluster.unscript_all();
    let mut reply = ScriptedReply::records(
        case.srvs
            .iter()
            .map(|(target, port, _)| ScriptedRecord::srv(SRV, *port, target)),
    )
    .with_rcode(case.rcode);
    if case.truncated {
        reply = reply.truncated();
    }
    let own_glue = case
        .srvs
        .iter()
        .filter_map(|(target, _, glue)| Some((target.clone(), (*glue)?)));
    let glue: Vec<(String, IpAddr)> = own_glue.chain(case.glue.iter().cloned()).collect();
    for (name, ip) in &glue {
        let record = match ip {
            IpAddr::V4(v4) => ScriptedRecord::a(name, *v4),
            IpAddr::V6(v6) => ScriptedRecord::aaaa(name, *v6),
        };
        reply = reply.with_additional(record);
    }
    cluster
        .script(SRV, RecordType::SRV, reply)
        .expect("every generated name encodes");
    for (name, own) in &case.own {
        for rtype in [RecordType::A, RecordType::AAAA] {
            let answer = match own {
                Own::Zone => continue,
                Own::NoData => ScriptedReply::nodata(),
                Own::NxDomain => ScriptedReply::nodata().with_rcode(3),
                Own::Loop => ScriptedReply::records([ScriptedRecord::cname(name, name)]),
                Own::Address(IpAddr::V4(v4)) => {
                    ScriptedReply::records([ScriptedRecord::a(name, *v4)])
                }
                Own::Address(IpAddr::V6(v6)) => {
                    ScriptedReply::records([ScriptedRecord::aaaa(name, *v6)])
                }
            };
            cluster
                .script(name, rtype, answer)
                .expect("every generated name encodes");
        }
    }
}

/// The StatefulSet ordinal grammar, written independently of the crate's parser.
fn expected_ordinal(hostname: &str) -> Option<u32> {
    let (prefix, digits) = hostname.rsplit_once('-')?;
    let label_ok = !prefix.is_empty()
        && prefix.len() <= 63
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !prefix.starts_with('-')
        && !prefix.ends_with('-');
    let number_ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if label_ok && number_ok {
        digits.parse().ok()
    } else {
        None
    }
}

fn check(peers: &PeerSet) -> Result<(), TestCaseError> {
    let mut names = HashSet::new();
    for peer in peers {
        let hostname = peer
            .fqdn()
            .strip_suffix(SUFFIX)
            .ok_or_else(|| TestCaseError::fail(format!("outside the Service: {peer:?}")))?;
        prop_assert_eq!(hostname, peer.hostname(), "one label under the Service");
        prop_assert!(
            !hostname.is_empty()
                && hostname.len() <= 63
                && hostname
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "not a hostname: {:?}",
            peer
        );
        let dashed_ip = hostname.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            && hostname.replace('-', ".").parse::<IpAddr>().ok() == Some(peer.ip());
        if !dashed_ip {
            prop_assert_eq!(peer.ordinal(), expected_ordinal(hostname), "{:?}", peer);
        }
        prop_assert!(peer.port() != 0, "{:?}", peer);
        let ip = peer.ip();
        prop_assert!(!ip.is_unspecified() && !ip.is_multicast(), "{:?}", peer);
        if let IpAddr::V6(v6) = ip {
            prop_assert!(v6.to_ipv4_mapped().is_none(), "{:?}", peer);
        }
        if let IpAddr::V4(v4) = ip {
            prop_assert!(!v4.is_broadcast(), "{:?}", peer);
        }
        prop_assert!(names.insert(peer.fqdn().to_owned()), "duplicate {:?}", peer);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_answers_give_only_this_services_pods(case in case()) {
        let world = world();
        script(&world.cluster, &case);
        let first = world.runtime.block_on(world.discovery.resolve("_redis._tcp.redis"));
        let again = world.runtime.block_on(world.discovery.resolve("_redis._tcp.redis"));
        match (&first, &again) {
            (Ok(a), Ok(b)) => {
                check(a)?;
                prop_assert_eq!(a, b, "the same answer gave another set");
                if case.rcode != 0 {
                    prop_assert!(a.is_empty(), "records under rcode {}: {:?}", case.rcode, a);
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "one answer, two outcomes: {:?} / {:?}", first, again),
        }
    }
}
