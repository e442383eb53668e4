//! One pod: [`Peer`] and the key that names it.

use std::borrow::Borrow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::ordinal;

/// One ready pod behind the Service.
///
/// Holds a single shared string (the FQDN, of which the hostname is the first label), so
/// cloning is a reference-count bump and a snapshot of 1000 peers stays small.
///
/// Peers from the Kubernetes API (EndpointSlices) also say where the pod runs
/// ([`zone`](Self::zone), [`node`](Self::node)) and whether it is
/// [draining](Self::is_draining). DNS carries none of that.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    fqdn: Arc<str>,
    hostname_len: usize,
    ordinal: Option<u32>,
    addr: SocketAddr,
    /// Zone and node, shared: only the API source sets them, and they rarely differ.
    placement: Option<Arc<Placement>>,
    draining: bool,
}

/// Where a pod runs, as its EndpointSlice says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct Placement {
    zone: Option<String>,
    node: Option<String>,
}

impl Peer {
    /// A peer named `fqdn` (trailing dot optional, case folded) at `addr`.
    ///
    /// The ordinal is read from the first label; see [`Peer::ordinal`].
    pub fn new(fqdn: &str, addr: SocketAddr) -> Self {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let hostname_len = fqdn.find('.').unwrap_or(fqdn.len());
        let ordinal = ordinal::parse(&fqdn[..hostname_len], addr.ip());
        Self {
            fqdn: fqdn.into(),
            hostname_len,
            ordinal,
            addr,
            placement: None,
            draining: false,
        }
    }

    /// This peer with its ordinal given rather than read from its hostname: the API
    /// source takes it from the pod's name when the endpoint has no hostname.
    #[must_use]
    pub fn with_ordinal(mut self, ordinal: Option<u32>) -> Self {
        self.ordinal = ordinal;
        self
    }

    /// This peer in zone `zone` (`topology.kubernetes.io/zone` of its node).
    #[must_use]
    pub fn with_zone(mut self, zone: impl Into<String>) -> Self {
        Arc::make_mut(self.placement.get_or_insert_default()).zone = Some(zone.into());
        self
    }

    /// This peer on node `node`.
    #[must_use]
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        Arc::make_mut(self.placement.get_or_insert_default()).node = Some(node.into());
        self
    }

    /// This peer, draining or not. See [`is_draining`](Self::is_draining).
    #[must_use]
    pub fn with_draining(mut self, draining: bool) -> Self {
        self.draining = draining;
        self
    }

    /// Whether the pod is terminating but still serving (EndpointSlice conditions
    /// `serving` and `terminating`): work already sent to it may finish, new requests
    /// should go elsewhere. [`PeerDiscover`](crate::balance::PeerDiscover) removes it from
    /// the balancer. Always false for peers from DNS, which lists ready pods only.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// The pod's zone, when the API source knows it.
    pub fn zone(&self) -> Option<&str> {
        self.placement.as_ref().and_then(|p| p.zone.as_deref())
    }

    /// The pod's node, when the API source knows it.
    pub fn node(&self) -> Option<&str> {
        self.placement.as_ref().and_then(|p| p.node.as_deref())
    }

    /// The StatefulSet ordinal: `2` for `redis-2`. `None` when the pod is named by its
    /// dashed IP (it has no hostname under this Service) or the name has no `-<n>` suffix.
    pub fn ordinal(&self) -> Option<u32> {
        self.ordinal
    }

    /// The pod's hostname: the first label of its FQDN (`redis-2`).
    pub fn hostname(&self) -> &str {
        &self.fqdn[..self.hostname_len]
    }

    /// The pod's DNS name without the trailing dot
    /// (`redis-2.redis.cache.svc.cluster.local`). Use it as the TLS server name when
    /// connecting by IP.
    pub fn fqdn(&self) -> &str {
        &self.fqdn
    }

    /// The pod's IP address.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// The port the peer serves on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// IP and port together.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether `host`, as a server names its peer (a replica's configured source, an
    /// address announced in a role report), means this pod: its IP, its FQDN (with or
    /// without the trailing dot), its hostname, or a shorter relative form of its FQDN
    /// (`mysql-0.mysql`, as the Kubernetes tutorial configures replicas). Case-insensitive.
    ///
    /// ```
    /// use headless_discovery::Peer;
    /// let peer = Peer::new("mysql-0.mysql.db.svc.cluster.local", "10.1.0.7:3306".parse().unwrap());
    /// assert!(peer.is_named("10.1.0.7"));
    /// assert!(peer.is_named("mysql-0.mysql"));
    /// assert!(peer.is_named("MYSQL-0.mysql.db.svc.cluster.local."));
    /// assert!(!peer.is_named("mysql-0.other"));
    /// assert!(!peer.is_named("mysql"));
    /// ```
    pub fn is_named(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return ip == self.ip();
        }
        let fqdn = self.fqdn();
        host.len() >= self.hostname_len
            && fqdn.len() >= host.len()
            && fqdn[..host.len()].eq_ignore_ascii_case(host)
            && (fqdn.len() == host.len() || fqdn.as_bytes()[host.len()] == b'.')
    }

    /// The key that names this pod across snapshots: its FQDN. A pod that comes back with
    /// a new IP keeps its key.
    pub fn key(&self) -> PeerKey {
        PeerKey(Arc::clone(&self.fqdn))
    }

    /// Whether `other`, the same pod (same name, so same ordinal), is unchanged: the same
    /// address, draining state and placement. Cheaper than `==`, which compares names.
    pub(crate) fn same_state(&self, other: &Peer) -> bool {
        self.addr == other.addr
            && self.draining == other.draining
            && match (&self.placement, &other.placement) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => false,
            }
    }

    /// Ordering used by [`PeerSet`](super::PeerSet): ordinal (pods without one last), then name.
    pub(crate) fn sort_key(&self) -> (bool, u32, &str) {
        (
            self.ordinal.is_none(),
            self.ordinal.unwrap_or(0),
            &self.fqdn,
        )
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Peer");
        f.field("ordinal", &self.ordinal)
            .field("fqdn", &&*self.fqdn)
            .field("addr", &self.addr);
        if let Some(zone) = self.zone() {
            f.field("zone", &zone);
        }
        if let Some(node) = self.node() {
            f.field("node", &node);
        }
        if self.draining {
            f.field("draining", &true);
        }
        f.finish()
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.hostname(), self.addr)?;
        if self.draining {
            f.write_str(" draining")?;
        }
        Ok(())
    }
}

impl Serialize for Peer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Peer", 8)?;
        s.serialize_field("ordinal", &self.ordinal)?;
        s.serialize_field("hostname", self.hostname())?;
        s.serialize_field("fqdn", self.fqdn())?;
        s.serialize_field("ip", &self.ip())?;
        s.serialize_field("port", &self.port())?;
        if self.placement.is_some() {
            s.serialize_field("zone", &self.zone())?;
            s.serialize_field("node", &self.node())?;
        } else {
            s.skip_field("zone")?;
            s.skip_field("node")?;
        }
        if self.draining {
            s.serialize_field("draining", &true)?;
        } else {
            s.skip_field("draining")?;
        }
        s.end()
    }
}

/// The identity of a pod across snapshots: its FQDN.
///
/// Used as the key of tower's [`Change`](tower::discover::Change): a pod replaced with a new
/// IP is re-inserted under the same key, which makes the balancer swap its service.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(Arc<str>);

impl PeerKey {
    /// The FQDN this key stands for.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for PeerKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Borrow<str> for PeerKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
