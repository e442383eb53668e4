//! [`PeerSet`]: an immutable, ordered snapshot of the ready pods.

use std::cmp::Ordering;
use std::sync::Arc;

use super::{Peer, PeerEvent};

/// The ready pods of a Service at one moment, sorted by ordinal then name, without
/// duplicates. Cloning shares the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerSet {
    peers: Arc<[Peer]>,
}

impl PeerSet {
    /// Sorts `peers` and drops repeated names: of several addresses given one name, the
    /// lowest wins, so the same answer always gives the same set, whatever order its
    /// records came in.
    pub fn new(mut peers: Vec<Peer>) -> Self {
        peers.sort_by(|a, b| {
            a.sort_key()
                .cmp(&b.sort_key())
                .then_with(|| a.addr().cmp(&b.addr()))
        });
        peers.dedup_by(|b, a| a.fqdn() == b.fqdn());
        Self {
            peers: peers.into(),
        }
    }

    /// No peers.
    pub fn empty() -> Self {
        Self::default()
    }

    /// How many peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The peers, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Peer> {
        self.peers.iter()
    }

    /// The peers as a slice.
    pub fn as_slice(&self) -> &[Peer] {
        &self.peers
    }

    /// The peer with the lowest ordinal.
    pub fn first(&self) -> Option<&Peer> {
        self.peers.first()
    }

    /// The peer with this ordinal, if it is ready.
    pub fn by_ordinal(&self, ordinal: u32) -> Option<&Peer> {
        self.peers.iter().find(|p| p.ordinal() == Some(ordinal))
    }

    /// The peer with this FQDN or hostname.
    pub fn by_name(&self, name: &str) -> Option<&Peer> {
        let name = name.trim_end_matches('.');
        self.peers.iter().find(|p| {
            p.fqdn().eq_ignore_ascii_case(name) || p.hostname().eq_ignore_ascii_case(name)
        })
    }

    /// Whether two snapshots share the same storage (a cheap "nothing changed" check).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.peers, &other.peers)
    }

    /// What happened between `self` (before) and `next` (after), in peer order: `Removed`,
    /// `Added`, and `Changed` for a pod whose name stayed but whose address moved, or
    /// which started draining (or stopped), or moved zone or node.
    ///
    /// Both sets are sorted by the same key, so this is one linear merge.
    pub fn diff(&self, next: &PeerSet) -> Vec<PeerEvent> {
        let mut events = Vec::new();
        let (mut old, mut new) = (self.peers.iter().peekable(), next.peers.iter().peekable());
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.sort_key().cmp(&b.sort_key()),
            };
            match order {
                Ordering::Less => {
                    if let Some(p) = old.next() {
                        events.push(PeerEvent::Removed(p.clone()));
                    }
                }
                Ordering::Greater => {
                    if let Some(p) = new.next() {
                        events.push(PeerEvent::Added(p.clone()));
                    }
                }
                Ordering::Equal => {
                    if let (Some(a), Some(b)) = (old.next(), new.next())
                        && !a.same_state(b)
                    {
                        events.push(PeerEvent::Changed {
                            old: a.clone(),
                            new: b.clone(),
                        });
                    }
                }
            }
        }
        events
    }
}

impl<'a> IntoIterator for &'a PeerSet {
    type Item = &'a Peer;
    type IntoIter = std::slice::Iter<'a, Peer>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<Peer> for PeerSet {
    fn from_iter<I: IntoIterator<Item = Peer>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, ip: [u8; 4]) -> Peer {
        Peer::new(
            &format!("{name}.redis.cache.svc.cluster.local"),
            (ip, 6379).into(),
        )
    }

    #[test]
    fn sorted_by_ordinal_then_name_without_duplicates() {
        let set = PeerSet::new(vec![
            peer("10-0-0-9", [10, 0, 0, 9]),
            peer("redis-10", [10, 0, 0, 3]),
            peer("redis-2", [10, 0, 0, 2]),
            peer("redis-2", [10, 0, 0, 5]),
            peer("a-2", [10, 0, 0, 4]),
        ]);
        let names: Vec<_> = set.iter().map(Peer::hostname).collect();
        assert_eq!(names, ["a-2", "redis-2", "redis-10", "10-0-0-9"]);
        assert_eq!(set.by_ordinal(10).map(Peer::ip), Some([10, 0, 0, 3].into()));
        assert_eq!(
            set.by_name("REDIS-2").map(Peer::ip),
            Some([10, 0, 0, 2].into())
        );
    }

    #[test]
    fn of_two_addresses_for_one_name_the_lowest_wins_in_any_order() {
        let a = peer("redis-0", [10, 0, 0, 9]);
        let b = peer("redis-0", [10, 0, 0, 3]);
        let one = PeerSet::new(vec![a.clone(), b.clone()]);
        let other = PeerSet::new(vec![b, a]);
        assert_eq!(one, other);
        assert_eq!(one.len(), 1);
        assert_eq!(one.first().map(Peer::ip), Some([10, 0, 0, 3].into()));
    }

    #[test]
    fn diff_reports_added_removed_and_changed() {
        let before = PeerSet::new(vec![
            peer("redis-0", [10, 0, 0, 1]),
            peer("redis-1", [10, 0, 0, 2]),
            peer("redis-2", [10, 0, 0, 3]),
        ]);
        let after = PeerSet::new(vec![
            peer("redis-1", [10, 0, 0, 2]),
            peer("redis-2", [10, 0, 0, 9]),
            peer("redis-3", [10, 0, 0, 4]),
        ]);
        let events = before.diff(&after);
        let summary: Vec<_> = events
            .iter()
            .map(|e| (e.kind(), e.peer().hostname().to_owned()))
            .collect();
        assert_eq!(
            summary,
            [
                ("removed", "redis-0".to_owned()),
                ("changed", "redis-2".to_owned()),
                ("added", "redis-3".to_owned()),
            ]
        );
        assert!(after.diff(&after).is_empty());
        assert_eq!(PeerSet::empty().diff(&after).len(), 3);
        assert_eq!(after.diff(&PeerSet::empty()).len(), 3);
    }
}
