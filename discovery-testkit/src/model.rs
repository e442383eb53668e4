//! The cluster's state as the DNS server sees it: StatefulSets, their pods and ports.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A port of the headless Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name; unnamed ports get no `_name._proto` SRV record.
    pub name: Option<String>,
    /// The port number.
    pub port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// Which address family a StatefulSet's pods get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamily {
    /// IPv4 loopback addresses: servers can listen on them.
    #[default]
    V4,
    /// Unique-local IPv6 addresses: DNS only (see [`AddressPool::next_v6`](crate::AddressPool::next_v6)).
    V6,
}

/// The declaration of a StatefulSet and its headless Service, as given to
/// [`Cluster::statefulset`](crate::Cluster::statefulset).
#[derive(Debug, Clone)]
pub struct StatefulSetSpec {
    pub(crate) name: String,
    pub(crate) service: String,
    pub(crate) namespace: String,
    pub(crate) ports: Vec<ServicePort>,
    pub(crate) replicas: u32,
    pub(crate) start_ordinal: u32,
    pub(crate) family: IpFamily,
    pub(crate) publish_not_ready: bool,
    pub(crate) hostnames: bool,
    pub(crate) zones: Vec<String>,
}

impl StatefulSetSpec {
    /// A StatefulSet `name` with one replica, governed by a headless Service of the same
    /// name in namespace `default`, with no ports.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            service: name.to_owned(),
            namespace: "default".to_owned(),
            ports: Vec::new(),
            replicas: 1,
            start_ordinal: 0,
            family: IpFamily::V4,
            publish_not_ready: false,
            hostnames: true,
            zones: Vec::new(),
        }
    }

    /// Spreads the pods over these zones (pod `n` in `zones[n % len]`, on node
    /// `<zone>-node`), as the API source reports them. DNS carries no zones.
    #[must_use]
    pub fn zones(mut self, zones: &[&str]) -> Self {
        self.zones = zones.iter().map(|z| (*z).to_owned()).collect();
        self
    }

    /// The headless Service's name (`spec.serviceName`).
    #[must_use]
    pub fn service(mut self, service: &str) -> Self {
        self.service = service.to_owned();
        self
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Adds a named TCP port: SRV records `_<name>._tcp.<svc>...`.
    #[must_use]
    pub fn port(self, name: &str, port: u16) -> Self {
        self.port_with_protocol(Some(name), port, "tcp")
    }

    /// Adds an unnamed TCP port: no `_name._tcp` SRV record, only the bare-service one.
    #[must_use]
    pub fn unnamed_port(self, port: u16) -> Self {
        self.port_with_protocol(None, port, "tcp")
    }

    /// Adds a port with any protocol (`tcp`, `udp`, `sctp`).
    #[must_use]
    pub fn port_with_protocol(mut self, name: Option<&str>, port: u16, protocol: &str) -> Self {
        self.ports.push(ServicePort {
            name: name.map(str::to_owned),
            port,
            protocol: protocol.to_owned(),
        });
        self
    }

    /// How many pods.
    #[must_use]
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// The first ordinal (`.spec.ordinals.start`).
    #[must_use]
    pub fn start_ordinal(mut self, start: u32) -> Self {
        self.start_ordinal = start;
        self
    }

    /// IPv4 (default) or IPv6 pods.
    #[must_use]
    pub fn family(mut self, family: IpFamily) -> Self {
        self.family = family;
        self
    }

    /// `publishNotReadyAddresses: true`: unready pods stay in DNS.
    #[must_use]
    pub fn publish_not_ready_addresses(mut self, publish: bool) -> Self {
        self.publish_not_ready = publish;
        self
    }

    /// Whether pods get hostnames under the Service (true when `serviceName` names it).
    /// Without, CoreDNS names them by dashed IP (`10-244-1-7.svc...`), with no ordinal.
    #[must_use]
    pub fn hostnames(mut self, hostnames: bool) -> Self {
        self.hostnames = hostnames;
        self
    }
}

/// One pod of a StatefulSet, as the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// `<statefulset>-<ordinal>`.
    pub name: String,
    /// The ordinal.
    pub ordinal: u32,
    /// The pod's address.
    pub ip: IpAddr,
    /// Whether it passes its readiness probe.
    pub ready: bool,
    /// Its DNS name without trailing dot (hostname or dashed IP under the Service).
    pub fqdn: String,
}

#[derive(Debug, Clone)]
pub(crate) struct PodState {
    pub(crate) ip: IpAddr,
    pub(crate) ready: bool,
}

impl PodState {
    pub(crate) fn new(ip: IpAddr) -> Self {
        Self { ip, ready: true }
    }
}

/// A pod that was deleted (scaled away, or replaced) and is still terminating: the API
/// lists it as serving and terminating until `until`, as the EndpointSlice controller
/// does during its grace period; DNS no longer serves it.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "api"), allow(dead_code))]
pub(crate) struct Terminating {
    pub(crate) ordinal: u32,
    pub(crate) ip: IpAddr,
    pub(crate) until: std::time::Instant,
}

/// A declared StatefulSet and its pods.
#[derive(Debug, Clone)]
pub(crate) struct SetState {
    pub(crate) spec: StatefulSetSpec,
    pub(crate) pods: BTreeMap<u32, PodState>,
    pub(crate) terminating: Vec<Terminating>,
}

/// An endpoint as DNS publishes it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) hostname: String,
    pub(crate) ip: IpAddr,
}

impl SetState {
    /// The endpoints CoreDNS would publish: ready pods, or all with `publishNotReadyAddresses`.
    pub(crate) fn endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        self.pods
            .iter()
            .filter(|(_, pod)| pod.ready || self.spec.publish_not_ready)
            .map(|(ordinal, pod)| Endpoint {
                hostname: self.hostname(*ordinal, pod.ip),
                ip: pod.ip,
            })
    }

    /// Keeps a deleted pod's address as terminating until `until` (if that is later than
    /// now: without a drain period it is simply gone).
    pub(crate) fn terminate(&mut self, ordinal: u32, ip: IpAddr, until: std::time::Instant) {
        let now = std::time::Instant::now();
        self.terminating.retain(|t| t.until > now);
        if until > now {
            self.terminating.push(Terminating { ordinal, ip, until });
        }
    }

    /// The zone of pod `ordinal`, if the set has zones.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(crate) fn zone(&self, ordinal: u32) -> Option<&str> {
        if self.spec.zones.is_empty() {
            return None;
        }
        let index = ordinal as usize % self.spec.zones.len();
        self.spec.zones.get(index).map(String::as_str)
    }

    pub(crate) fn hostname(&self, ordinal: u32, ip: IpAddr) -> String {
        if self.spec.hostnames {
            format!("{}-{ordinal}", self.spec.name)
        } else {
            dashed(ip)
        }
    }
}

/// CoreDNS's name for an endpoint without hostname: the IP with `.`/`:` as `-`.
pub(crate) fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut s = v6.to_string().replace(':', "-");
            if s.starts_with('-') {
                s.insert(0, '0');
            }
            if s.ends_with('-') {
                s.push('0');
            }
            s
        }
    }
}
