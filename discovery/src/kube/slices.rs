//! EndpointSlices to peers: the slices of one Service, merged into a [`PeerSet`].
//!
//! The rules follow what CoreDNS's `kubernetes` plugin publishes, so that a pod has the
//! same [`PeerKey`](crate::PeerKey) under both sources: the FQDN is the endpoint's
//! `hostname` under the Service, else its dashed IP. The API knows more than DNS: the
//! ordinal also comes from `targetRef.name` when there is no hostname, and each peer
//! carries its zone, node and whether it is draining.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};

use crate::error::{Error, Result};
use crate::name::{HeadlessService, PortSpec};
use crate::peer::{Peer, PeerSet, dashed_ip, parse_ordinal};

/// One slice, reduced to what peers are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slice {
    /// `None`: the slice lists no ports (`ports: null` means "all ports").
    ports: Option<Vec<SlicePort>>,
    endpoints: Vec<SliceEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SlicePort {
    name: String,
    port: u16,
    /// Upper case, as the API writes it: `TCP`, `UDP`, `SCTP`.
    protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SliceEndpoint {
    ip: IpAddr,
    hostname: Option<String>,
    pod: Option<String>,
    zone: Option<String>,
    node: Option<String>,
    state: State,
}

/// An endpoint's conditions, as the EndpointSlice API defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    /// Neither ready nor serving: not a peer.
    Gone,
    /// Terminating but still serving: a draining peer.
    Draining,
    /// Ready: a peer.
    Ready,
}

impl Slice {
    /// The slice, or `None` for one DNS would not serve (`addressType: FQDN`). Addresses
    /// that do not parse as IPs are dropped and counted in `rejected`.
    pub(crate) fn new(slice: EndpointSlice, rejected: &mut usize) -> Option<Self> {
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            return None;
        }
        let ports = slice.ports.map(|ports| {
            ports
                .into_iter()
                .filter_map(|p| {
                    Some(SlicePort {
                        name: p.name.unwrap_or_default(),
                        port: u16::try_from(p.port?).ok()?,
                        protocol: p.protocol.unwrap_or_else(|| "TCP".to_owned()),
                    })
                })
                .collect()
        });
        let endpoints = slice
            .endpoints
            .into_iter()
            .filter_map(|e| SliceEndpoint::new(e, rejected))
            .collect();
        Some(Self { ports, endpoints })
    }

    /// The port this slice's endpoints serve `wanted` on, if it has it.
    fn port(&self, wanted: &PortSpec) -> Option<u16> {
        match wanted {
            PortSpec::Number(n) => Some(*n),
            PortSpec::Named { name, protocol } => self.ports.as_ref()?.iter().find_map(|p| {
                (p.name == *name && p.protocol.eq_ignore_ascii_case(protocol)).then_some(p.port)
            }),
            PortSpec::Any => match self.ports.as_deref()? {
                [only] => Some(only.port),
                _ => None,
            },
        }
    }
}

impl SliceEndpoint {
    fn new(endpoint: Endpoint, rejected: &mut usize) -> Option<Self> {
        // The API says the addresses of one endpoint are fungible and consumers use the
        // first; kube-proxy does.
        let Some(ip) = endpoint.addresses.first().and_then(|a| a.parse().ok()) else {
            *rejected += 1;
            return None;
        };
        let conditions = endpoint.conditions.unwrap_or_default();
        // Unknown readiness counts as ready, and unknown serving as the readiness, as the
        // API tells consumers to read them.
        let ready = conditions.ready.unwrap_or(true);
        let serving = conditions.serving.unwrap_or(ready);
        let terminating = conditions.terminating.unwrap_or(false);
        let state = if ready && !terminating {
            State::Ready
        } else if serving && terminating {
            State::Draining
        } else if ready {
            // Ready yet terminating is what `publishNotReadyAddresses` gives: still ready.
            State::Ready
        } else {
            State::Gone
        };
        let pod = endpoint
            .target_ref
            .filter(|r| r.kind.as_deref().is_none_or(|k| k == "Pod"))
            .and_then(|r| r.name);
        Some(Self {
            ip,
            hostname: endpoint.hostname.filter(|h| !h.is_empty()),
            pod,
            zone: endpoint.zone,
            node: endpoint.node_name,
            state,
        })
    }

    fn peer(&self, service: &HeadlessService, port: u16) -> Peer {
        let label = self.hostname.clone().unwrap_or_else(|| dashed_ip(self.ip));
        let mut peer = Peer::new(
            &format!("{label}.{}", service.domain_name()),
            SocketAddr::new(self.ip, port),
        );
        if self.hostname.is_none() {
            peer = peer.with_ordinal(self.pod.as_deref().and_then(|p| parse_ordinal(p, self.ip)));
        }
        if let Some(zone) = &self.zone {
            peer = peer.with_zone(zone.clone());
        }
        if let Some(node) = &self.node {
            peer = peer.with_node(node.clone());
        }
        peer.with_draining(self.state == State::Draining)
    }
}

/// The slices of one Service, by object name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Slices {
    by_name: HashMap<String, Slice>,
}

impl Slices {
    /// Stores or replaces one slice. `None` (an FQDN slice) removes it.
    pub(crate) fn apply(&mut self, name: String, slice: Option<Slice>) {
        match slice {
            Some(slice) => {
                self.by_name.insert(name, slice);
            }
            None => {
                self.by_name.remove(&name);
            }
        }
    }

    /// Forgets a deleted slice.
    pub(crate) fn delete(&mut self, name: &str) {
        self.by_name.remove(name);
    }

    /// All slices merged: one peer per pod, ready before draining where two slices
    /// disagree (a pod moving between slices shows up in both for a moment).
    ///
    /// # Errors
    ///
    /// [`Error::PortNotFound`] when pods are listed but no slice has the named port;
    /// [`Error::AmbiguousPort`] / [`Error::PortRequired`] when no port was given and the
    /// slices do not name exactly one.
    pub(crate) fn peers(&self, service: &HeadlessService) -> Result<PeerSet> {
        if matches!(service.port(), PortSpec::Any) && self.ports().len() > 1 {
            return Err(self.port_error(service));
        }
        // One peer per name: a replaced pod's old address may still drain beside the new
        // one, and the ready one wins; then the lowest address, as `PeerSet::new` does.
        let mut best: BTreeMap<String, (State, Peer)> = BTreeMap::new();
        let mut listed = false;
        for slice in self.by_name.values() {
            let live = slice.endpoints.iter().filter(|e| e.state != State::Gone);
            let mut live = live.peekable();
            if live.peek().is_none() {
                continue;
            }
            listed = true;
            let Some(port) = slice.port(service.port()) else {
                continue;
            };
            for endpoint in live {
                let peer = endpoint.peer(service, port);
                let better = match best.get(peer.fqdn()) {
                    None => true,
                    Some((state, kept)) => {
                        (endpoint.state, std::cmp::Reverse(peer.addr()))
                            > (*state, std::cmp::Reverse(kept.addr()))
                    }
                };
                if better {
                    best.insert(peer.fqdn().to_owned(), (endpoint.state, peer));
                }
            }
        }
        if listed && best.is_empty() {
            return Err(self.port_error(service));
        }
        Ok(best.into_values().map(|(_, peer)| peer).collect())
    }

    /// Every port number the slices list, in increasing order.
    fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .by_name
            .values()
            .flat_map(|s| s.ports.iter().flatten().map(|p| p.port))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    fn port_error(&self, service: &HeadlessService) -> Error {
        let domain = service.domain_name();
        match service.port() {
            PortSpec::Named { name, .. } => Error::PortNotFound {
                service: domain,
                port: name.clone(),
            },
            _ => {
                let ports = self.ports();
                if ports.len() > 1 {
                    Error::AmbiguousPort {
                        service: domain,
                        ports,
                    }
                } else {
                    Error::PortRequired { service: domain }
                }
            }
        }
    }
}
