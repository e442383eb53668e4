use proptest::prelude::*;

use super::*;

struct Accepted {
    input: &'static str,
    service: &'static str,
    namespace: Option<&'static str>,
    domain: Option<&'static str>,
    port: PortSpec,
}

fn named(name: &str) -> PortSpec {
    PortSpec::Named {
        name: name.into(),
        protocol: "tcp".into(),
    }
}

#[test]
fn every_accepted_form() {
    let cases = [
        Accepted {
            input: "redis",
            service: "redis",
            namespace: None,
            domain: None,
            port: PortSpec::Any,
        },
        Accepted {
            input: "redis.cache",
            service: "redis",
            namespace: Some("cache"),
            domain: None,
            port: PortSpec::Any,
        },
        Accepted {
            input: "redis.cache.svc",
            service: "redis",
            namespace: Some("cache"),
            domain: None,
            port: PortSpec::Any,
        },
        Accepted {
            input: "redis.cache.svc.",
            service: "redis",
            namespace: Some("cache"),
            domain: None,
            port: PortSpec::Any,
        },
        Accepted {
            input: "redis.cache.svc.cluster.local",
            service: "redis",
            namespace: Some("cache"),
            domain: Some("cluster.local"),
            port: PortSpec::Any,
        },
        Accepted {
            input: "redis.cache.svc.cluster.local.",
            service: "redis",
            namespace: Some("cache"),
            domain: Some("cluster.local"),
            port: PortSpec::Any,
        },
        Accepted {
            input: "redis.cache.svc.k8s.corp.example",
            service: "redis",
            namespace: Some("cache"),
            domain: Some("k8s.corp.example"),
            port: PortSpec::Any,
        },
        Accepted {
            input: "_redis._tcp.redis.cache.svc.cluster.local.",
            service: "redis",
            namespace: Some("cache"),
            domain: Some("cluster.local"),
            port: named("redis"),
        },
        Accepted {
            input: "_client._tcp.redis.cache",
            service: "redis",
            namespace: Some("cache"),
            domain: None,
            port: named("client"),
        },
        Accepted {
            input: "_dns._udp.kube-dns",
            service: "kube-dns",
            namespace: None,
            domain: None,
            port: PortSpec::Named {
                name: "dns".into(),
                protocol: "udp".into(),
            },
        },
        Accepted {
            input: "redis.cache:6379",
            service: "redis",
            namespace: Some("cache"),
            domain: None,
            port: PortSpec::Number(6379),
        },
        Accepted {
            input: "redis:1",
            service: "redis",
            namespace: None,
            domain: None,
            port: PortSpec::Number(1),
        },
        Accepted {
            input: "redis.cache.svc.cluster.local.:65535",
            service: "redis",
            namespace: Some("cache"),
            domain: Some("cluster.local"),
            port: PortSpec::Number(65535),
        },
        Accepted {
            input: "  Redis.Cache  ",
            service: "redis",
            namespace: Some("cache"),
            domain: None,
            port: PortSpec::Any,
        },
        Accepted {
            input: "r.0ns",
            service: "r",
            namespace: Some("0ns"),
            domain: None,
            port: PortSpec::Any,
        },
    ];
    for case in cases {
        let parsed = ServiceName::parse(case.input)
            .unwrap_or_else(|e| panic!("`{}` must parse: {e}", case.input));
        assert_eq!(
            parsed.service(),
            case.service,
            "service of `{}`",
            case.input
        );
        assert_eq!(
            parsed.namespace(),
            case.namespace,
            "namespace of `{}`",
            case.input
        );
        assert_eq!(
            parsed.cluster_domain(),
            case.domain,
            "domain of `{}`",
            case.input
        );
        assert_eq!(parsed.port(), &case.port, "port of `{}`", case.input);
    }
}

#[test]
fn every_rejection_says_what_is_wrong() {
    let long = "a".repeat(64);
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "the name is empty"),
        ("   ".into(), "the name is empty"),
        (".redis".into(), "empty label"),
        ("redis..cache".into(), "empty label"),
        ("redis.cache..".into(), "empty label"),
        (
            format!("{long}.cache"),
            "is 64 characters long; DNS allows at most 63",
        ),
        (format!("redis.{long}"), "namespace"),
        ("redis_0.cache".into(), "contains '_'"),
        ("red!s".into(), "contains '!'"),
        ("-redis".into(), "must start and end with a letter or digit"),
        (
            "redis-.cache".into(),
            "must start and end with a letter or digit",
        ),
        ("0redis.cache".into(), "must start with a letter"),
        ("redis.cache:".into(), "port number after `:` is missing"),
        ("redis.cache:0".into(), "not a port number from 1 to 65535"),
        (
            "redis.cache:65536".into(),
            "not a port number from 1 to 65535",
        ),
        ("redis.cache:http".into(), "not a port number"),
        ("redis.cache.cluster.local".into(), "continues with `svc`"),
        ("_redis".into(), "needs a protocol"),
        ("_redis._tcp".into(), "service is missing"),
        ("_redis.tcp.redis".into(), "protocol must be written"),
        (
            "_redis._http.redis".into(),
            "not a protocol Kubernetes publishes",
        ),
        ("_6379._tcp.redis".into(), "needs at least one letter"),
        ("_averyveryverylongname._tcp.redis".into(), "at most 15"),
        (
            "_re--dis._tcp.redis".into(),
            "must not start or end with '-' or contain '--'",
        ),
        ("_._tcp.redis".into(), "port name after `_` is empty"),
        ("_redis._tcp.redis.cache:6379".into(), "keep one"),
        (
            "redis.cache.svc.cluster_local".into(),
            "cluster domain label",
        ),
    ];
    for (input, expected) in cases {
        let err = ServiceName::parse(&input).expect_err(&format!("`{input}` must be rejected"));
        let message = err.to_string();
        assert!(
            message.contains(expected),
            "error for `{input}` should contain {expected:?}, got: {message}"
        );
        assert!(
            message.contains("write `svc`"),
            "error for `{input}` says how to write it: {message}"
        );
    }
}

#[test]
fn display_round_trips() {
    for input in [
        "redis",
        "redis.cache",
        "redis.cache.svc.cluster.local",
        "_redis._tcp.redis.cache",
        "redis.cache:6379",
    ] {
        let parsed = ServiceName::parse(input).expect("valid");
        assert_eq!(parsed.to_string(), input);
    }
}

fn label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
}

proptest! {
    #[test]
    fn valid_parts_always_parse_back(
        svc in label(),
        ns in label(),
        domain in prop::collection::vec(label(), 1..4),
        port in prop::option::of(1u16..),
        trailing_dot in any::<bool>(),
    ) {
        let domain = domain.join(".");
        let dot = if trailing_dot { "." } else { "" };
        let input = match port {
            Some(p) => format!("{svc}.{ns}.svc.{domain}{dot}:{p}"),
            None => format!("{svc}.{ns}.svc.{domain}{dot}"),
        };
        let parsed = ServiceName::parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.service(), svc.as_str());
        prop_assert_eq!(parsed.namespace(), Some(ns.as_str()));
        prop_assert_eq!(parsed.cluster_domain(), Some(domain.as_str()));
        prop_assert_eq!(parsed.port(), &port.map_or(PortSpec::Any, PortSpec::Number));
    }

    #[test]
    fn arbitrary_input_never_panics_and_errors_name_the_input(input in "\\PC{0,80}") {
        if let Err(e) = ServiceName::parse(&input) {
            prop_assert_eq!(e.input(), input.as_str());
            prop_assert!(!e.reason().is_empty());
        }
    }

    #[test]
    fn over_long_labels_are_rejected(len in 64usize..200) {
        let input = format!("{}.ns", "a".repeat(len));
        let err = ServiceName::parse(&input).expect_err("too long");
        prop_assert!(err.reason().contains("at most 63"));
    }
}
