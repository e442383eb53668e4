//! What an answer may name: pods of this Service, at addresses a pod can have.
//!
//! CoreDNS names a headless Service's endpoints `<hostname>.<svc>.<ns>.svc.<domain>`,
//! and nothing else. A record naming anything else (another namespace, another zone,
//! a deeper name, a label no Kubernetes hostname can be) is not a pod of this Service:
//! it is dropped, never dialled, and never given an ordinal, whatever the server says.

use std::fmt;
use std::net::IpAddr;

use hickory_resolver::proto::rr::Name;

use crate::name::{HeadlessService, is_hostname_label};

/// A record an answer carried that was not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// The name or address the record gave.
    pub(crate) name: String,
    pub(crate) reason: Rejection,
}

/// Why a record was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// A name outside `<svc>.<ns>.svc.<domain>`, or not one label under it.
    OutsideService,
    /// The pod label is not an RFC 1123 label (an escaped dot, a bad character).
    BadHostname,
    /// An SRV record with target `.`: "no service here".
    NoTarget,
    /// An SRV record with port 0.
    PortZero,
    /// An address no pod can have (unspecified, multicast, broadcast, IPv4-mapped IPv6).
    BadAddress,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::OutsideService => "not a pod name under this Service",
            Rejection::BadHostname => "the pod label is not a valid hostname",
            Rejection::NoTarget => "an SRV record with target `.`",
            Rejection::PortZero => "an SRV record with port 0",
            Rejection::BadAddress => "an address no pod can have",
        })
    }
}

/// The names and addresses that can be pods of one Service.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    domain: Name,
}

impl Scope {
    pub(crate) fn new(service: &HeadlessService) -> crate::Result<Self> {
        Ok(Self {
            domain: service.address_query()?,
        })
    }

    /// The pod FQDN (without the trailing dot) that `name` stands for, if it is one.
    pub(crate) fn pod_name(&self, name: &Name) -> Result<String, Rejection> {
        let name = name.to_lowercase();
        if name.num_labels() != self.domain.num_labels() + 1 || !self.domain.zone_of(&name) {
            return Err(Rejection::OutsideService);
        }
        let label = name.iter().next().ok_or(Rejection::OutsideService)?;
        if !is_hostname_label(label) {
            return Err(Rejection::BadHostname);
        }
        let ascii = name.to_ascii();
        Ok(ascii.trim_end_matches('.').to_owned())
    }

    /// Like [`pod_name`](Self::pod_name), recording a rejection in `rejected`.
    pub(crate) fn admit(&self, name: &Name, rejected: &mut Vec<Rejected>) -> Option<String> {
        match self.pod_name(name) {
            Ok(fqdn) => Some(fqdn),
            Err(reason) => {
                rejected.push(Rejected {
                    name: name.to_ascii(),
                    reason,
                });
                None
            }
        }
    }
}

/// Whether `ip` can be a pod's address, recording a rejection in `rejected` if not.
pub(crate) fn admit_ip(ip: IpAddr, rejected: &mut Vec<Rejected>) -> bool {
    let usable = match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => {
            !(v6.is_unspecified() || v6.is_multicast() || v6.to_ipv4_mapped().is_some())
        }
    };
    if !usable {
        rejected.push(Rejected {
            name: ip.to_string(),
            reason: Rejection::BadAddress,
        });
    }
    usable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::ServiceName;

    fn scope() -> Scope {
        let name = ServiceName::parse("_redis._tcp.redis.cache").expect("name");
        Scope::new(&HeadlessService::new(&name, "default", "cluster.local")).expect("scope")
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    #[test]
    fn only_one_valid_label_under_the_service_is_a_pod() {
        let scope = scope();
        let cases = [
            (
                "redis-0.redis.cache.svc.cluster.local.",
                Ok("redis-0.redis.cache.svc.cluster.local"),
            ),
            (
                "REDIS-1.Redis.cache.svc.cluster.local.",
                Ok("redis-1.redis.cache.svc.cluster.local"),
            ),
            (
                "10-0-0-7.redis.cache.svc.cluster.local.",
                Ok("10-0-0-7.redis.cache.svc.cluster.local"),
            ),
            ("evil.example.com.", Err(Rejection::OutsideService)),
            (
                "redis-0.redis.kube-system.svc.cluster.local.",
                Err(Rejection::OutsideService),
            ),
            (
                "redis.cache.svc.cluster.local.",
                Err(Rejection::OutsideService),
            ),
            (
                "a.redis-0.redis.cache.svc.cluster.local.",
                Err(Rejection::OutsideService),
            ),
            (
                "redis-0.redis.cache.svc.cluster.local.evil.",
                Err(Rejection::OutsideService),
            ),
            (
                "red\\.is-1.redis.cache.svc.cluster.local.",
                Err(Rejection::BadHostname),
            ),
            (
                "redis_0.redis.cache.svc.cluster.local.",
                Err(Rejection::BadHostname),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                scope.pod_name(&name(input)),
                expected.map(str::to_owned),
                "{input}"
            );
        }
    }

    #[test]
    fn addresses_no_pod_can_have_are_rejected() {
        let mut rejected = Vec::new();
        for bad in [
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "ff02::1",
            "::ffff:10.0.0.7",
        ] {
            assert!(!admit_ip(bad.parse().expect("ip"), &mut rejected), "{bad}");
        }
        for good in ["10.0.0.7", "127.0.0.2", "fd00::7"] {
            assert!(admit_ip(good.parse().expect("ip"), &mut rejected), "{good}");
        }
        assert_eq!(rejected.len(), 6);
    }
}
