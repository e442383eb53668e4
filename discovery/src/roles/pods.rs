//! [`PodMap`]: one value per pod (a connection, a pool), kept for the pod's current
//! address.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{Peer, PeerKey, PeerSet};

/// An adapter's per-pod connections (or pools), each kept for the address it was made
/// for: a pod that moved (a new IP after a reschedule) gets a new one, and the old one is
/// handed back to be closed rather than reused against a stranger.
///
/// ```
/// use headless_discovery::roles::PodMap;
/// use headless_discovery::{Peer, PeerSet};
///
/// let fqdn = "redis-0.redis.default.svc.cluster.local";
/// let pod = Peer::new(fqdn, "10.244.1.7:6379".parse()?);
/// let conns = PodMap::new();
/// assert_eq!(conns.insert(&pod, "conn to 10.244.1.7"), None);
/// assert_eq!(conns.get(&pod), Some("conn to 10.244.1.7"));
///
/// // Rescheduled with a new IP: the old connection is not this pod's any more.
/// let moved = Peer::new(fqdn, "10.244.2.9:6379".parse()?);
/// assert_eq!(conns.get(&moved), None);
/// assert_eq!(conns.retain(&PeerSet::new(vec![moved])), vec!["conn to 10.244.1.7"]);
/// assert!(conns.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PodMap<C> {
    open: Mutex<HashMap<PeerKey, (SocketAddr, C)>>,
}

impl<C> Default for PodMap<C> {
    fn default() -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl<C> fmt::Debug for PodMap<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodMap")
            .field("open", &self.lock().len())
            .finish()
    }
}

impl<C: Clone> PodMap<C> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pod's value, if one was made for its current address.
    pub fn get(&self, peer: &Peer) -> Option<C> {
        self.lock()
            .get(&peer.key())
            .filter(|(addr, _)| *addr == peer.addr())
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` for the pod's current address. Returns the value it replaces (made
    /// for an old address, or by a racing caller), for the caller to close.
    pub fn insert(&self, peer: &Peer, value: C) -> Option<C> {
        self.lock()
            .insert(peer.key(), (peer.addr(), value))
            .map(|(_, old)| old)
    }

    /// The pod's value, made by `make` (under the map's lock: keep it cheap and
    /// synchronous, a pool rather than a connection) when there is none for its current
    /// address. Also returns the value it replaced, for the caller to close.
    pub fn get_or_insert_with(&self, peer: &Peer, make: impl FnOnce() -> C) -> (C, Option<C>) {
        let mut open = self.lock();
        if let Some((addr, value)) = open.get(&peer.key())
            && *addr == peer.addr()
        {
            return (value.clone(), None);
        }
        let value = make();
        let old = open
            .insert(peer.key(), (peer.addr(), value.clone()))
            .map(|(_, old)| old);
        (value, old)
    }

    /// Forgets the pod's value after it failed, so that the next use makes a new one.
    /// Returns it; a value made for another address is left alone.
    pub fn invalidate(&self, peer: &Peer) -> Option<C> {
        let mut open = self.lock();
        if open
            .get(&peer.key())
            .is_some_and(|(addr, _)| *addr == peer.addr())
        {
            return open.remove(&peer.key()).map(|(_, value)| value);
        }
        None
    }

    /// Forgets the values of pods that left `peers` or moved. Returns them, to close.
    pub fn retain(&self, peers: &PeerSet) -> Vec<C> {
        let mut gone = Vec::new();
        self.lock().retain(|key, (addr, value)| {
            let keep = peers
                .by_name(key.as_str())
                .is_some_and(|p| p.addr() == *addr);
            if !keep {
                gone.push(value.clone());
            }
            keep
        });
        gone
    }

    /// Whether the pod has a value for its current address.
    pub fn contains(&self, peer: &Peer) -> bool {
        self.lock()
            .get(&peer.key())
            .is_some_and(|(addr, _)| *addr == peer.addr())
    }

    /// How many pods have a value.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no pod has one.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl<C> PodMap<C> {
    fn lock(&self) -> MutexGuard<'_, HashMap<PeerKey, (SocketAddr, C)>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
