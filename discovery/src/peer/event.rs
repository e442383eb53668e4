//! What changed between two snapshots.

use super::Peer;

/// One difference between two [`PeerSet`](super::PeerSet)s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A pod became ready (scale-up, a new pod after a rolling update, recovery).
    Added(Peer),
    /// A pod is no longer ready or no longer exists.
    Removed(Peer),
    /// The same pod (same name, so same ordinal) has changed: another address (it was
    /// replaced, as in a rolling update: connections to the old address should be
    /// dropped), or it started draining ([`Peer::is_draining`]: send it nothing new, let
    /// what is in flight finish). [`PeerEvent::moved`] tells which.
    Changed {
        /// The pod as it was.
        old: Peer,
        /// The pod as it is now.
        new: Peer,
    },
}

impl PeerEvent {
    /// The peer as it is after the event (for `Removed`, as it was).
    pub fn peer(&self) -> &Peer {
        match self {
            PeerEvent::Added(p) | PeerEvent::Removed(p) => p,
            PeerEvent::Changed { new, .. } => new,
        }
    }

    /// Whether this is a `Changed` whose address moved (as opposed to one that only
    /// started or stopped draining, or moved zone or node).
    pub fn moved(&self) -> bool {
        matches!(self, PeerEvent::Changed { old, new } if old.addr() != new.addr())
    }

    /// `added`, `removed` or `changed`.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerEvent::Added(_) => "added",
            PeerEvent::Removed(_) => "removed",
            PeerEvent::Changed { .. } => "changed",
        }
    }
}
