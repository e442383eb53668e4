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
    /// The same pod (same name, so same ordinal) now has another address: it was replaced,
    /// as in a rolling update. Connections to the old address should be dropped.
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

    /// `added`, `removed` or `changed`.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerEvent::Added(_) => "added",
            PeerEvent::Removed(_) => "removed",
            PeerEvent::Changed { .. } => "changed",
        }
    }
}
