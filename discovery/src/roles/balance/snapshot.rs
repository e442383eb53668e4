//! [`SnapshotDiscover`]: a tower `Discover` over the peers a published snapshot selects.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::watch;
use tower::discover::Change;

use crate::peer::{Peer, PeerKey};
use crate::roles::{ReadPolicy, Report, Topology};
use crate::watch::Latest;

/// A tower `Discover` over the peers that `select` picks from each value published on a
/// `watch` channel: a role prober's topology, say, narrowed to the healthy replicas.
///
/// It yields `Insert` for each newly selected peer (its service made by `make`), `Remove`
/// when a peer is no longer selected, and `Remove` then `Insert` when a selected peer's
/// address changed. A new value is seen on the very next poll, even when tokio's
/// cooperative budget is spent, so a balancer never picks a peer the latest snapshot
/// dropped. It never errs, and ends only when the sender is gone.
pub struct SnapshotDiscover<T, F, M, S> {
    changes: Latest<T>,
    select: F,
    make: M,
    current: HashMap<PeerKey, SocketAddr>,
    queue: VecDeque<Change<PeerKey, S>>,
}

impl<T, F, M, S> fmt::Debug for SnapshotDiscover<T, F, M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotDiscover")
            .field("selected", &self.current.len())
            .finish_non_exhaustive()
    }
}

impl<T, F, M, S> SnapshotDiscover<T, F, M, S>
where
    T: Clone + Send + Sync + 'static,
    F: FnMut(&T) -> Vec<Peer>,
    M: FnMut(&Peer) -> S,
{
    /// Starts with the receiver's current value.
    pub fn new(receiver: watch::Receiver<T>, select: F, make: M) -> Self {
        let changes = Latest::new(receiver);
        let first = changes.borrow().clone();
        let mut this = Self {
            changes,
            select,
            make,
            current: HashMap::new(),
            queue: VecDeque::new(),
        };
        this.absorb(&first);
        this
    }

    /// How many peers are selected now.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// Whether no peer is selected now.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    fn absorb(&mut self, value: &T) {
        let next: HashMap<PeerKey, Peer> = (self.select)(value)
            .into_iter()
            .map(|peer| (peer.key(), peer))
            .collect();
        let gone: Vec<PeerKey> = self
            .current
            .iter()
            .filter(|(key, addr)| next.get(*key).is_none_or(|p| p.addr() != **addr))
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            self.current.remove(&key);
            self.queue.push_back(Change::Remove(key));
        }
        for (key, peer) in next {
            if !self.current.contains_key(&key) {
                self.current.insert(key.clone(), peer.addr());
                self.queue
                    .push_back(Change::Insert(key, (self.make)(&peer)));
            }
        }
    }
}

/// How a [`FitReplicas`] selects from each topology.
pub type SelectFitReplicas<R> = Box<dyn FnMut(&Arc<Topology<R>>) -> Vec<Peer> + Send>;

/// A [`SnapshotDiscover`] over the replicas a [`RoleWatch`](crate::roles::RoleWatch)
/// finds fit for reads, each served by an `S` that `M` makes.
pub type FitReplicas<R, M, S> = SnapshotDiscover<Arc<Topology<R>>, SelectFitReplicas<R>, M, S>;

impl<R, M, S> FitReplicas<R, M, S>
where
    R: Report,
    M: FnMut(&Peer) -> S,
{
    /// Follows `topology` (from [`RoleWatch::topology_changes`](crate::roles::RoleWatch::topology_changes)):
    /// `Insert` when a replica becomes fit for reads (answering, following the leader,
    /// within the lag limits), `Remove` when it stops being fit, moves or leaves.
    pub fn fit_replicas(topology: watch::Receiver<Arc<Topology<R>>>, make: M) -> Self {
        Self::for_policy(topology, ReadPolicy::Replica, make)
    }

    /// As [`fit_replicas`](Self::fit_replicas), narrowed to the replicas `policy` reads
    /// from ([`Topology::read_replicas`]): under `SameZone`, the zone's fit replicas while
    /// there is one, else every fit replica. Each switch between the local replicas and
    /// that fallback is logged at info level, so a fallback is visible.
    pub fn for_policy(
        topology: watch::Receiver<Arc<Topology<R>>>,
        policy: ReadPolicy,
        make: M,
    ) -> Self {
        let mut fell_back = false;
        let select: SelectFitReplicas<R> = Box::new(move |topology| {
            let replicas = topology.read_replicas(&policy);
            // Only the locality policies fall back to replicas; the others' fallback is the
            // leader, which this never selects.
            let fallback = policy.is_local()
                && !replicas.is_empty()
                && topology.read(&policy).is_ok_and(|read| read.fallback);
            if fallback != fell_back {
                fell_back = fallback;
                if fallback {
                    tracing::info!(%policy, replicas = replicas.len(), "no fit replica is local: balancing over every fit replica");
                } else {
                    tracing::info!(%policy, replicas = replicas.len(), "balancing over the local fit replicas again");
                }
            }
            replicas.into_iter().map(|pod| pod.peer.clone()).collect()
        });
        Self::new(topology, select, make)
    }
}

impl<T, F, M, S> Unpin for SnapshotDiscover<T, F, M, S> {}

impl<T, F, M, S> Stream for SnapshotDiscover<T, F, M, S>
where
    T: Clone + Send + Sync + 'static,
    F: FnMut(&T) -> Vec<Peer>,
    M: FnMut(&Peer) -> S,
{
    type Item = Result<Change<PeerKey, S>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(change) = self.queue.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            match Pin::new(&mut self.changes).poll_next(cx) {
                Poll::Ready(Some(value)) => self.absorb(&value),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn peer(n: u8, last: u8) -> Peer {
        Peer::new(
            &format!("db-{n}.db.default.svc.cluster.local"),
            (std::net::Ipv4Addr::new(10, 0, 0, last), 3306).into(),
        )
    }

    #[tokio::test]
    async fn inserts_removes_and_replaces_moved_peers() {
        let (tx, rx) = watch::channel(vec![peer(0, 1), peer(1, 2)]);
        let mut discover = SnapshotDiscover::new(rx, Vec::clone, |p: &Peer| p.addr());
        let mut inserted = Vec::new();
        for _ in 0..2 {
            match discover.next().await {
                Some(Ok(Change::Insert(_, addr))) => inserted.push(addr.to_string()),
                other => panic!("expected an insert, got {other:?}"),
            }
        }
        inserted.sort();
        assert_eq!(inserted, ["10.0.0.1:3306", "10.0.0.2:3306"]);

        tx.send_replace(vec![peer(1, 9)]);
        let mut changes = Vec::new();
        for _ in 0..3 {
            match discover.next().await {
                Some(Ok(Change::Insert(key, addr))) => changes.push(format!("+{key} {addr}")),
                Some(Ok(Change::Remove(key))) => changes.push(format!("-{key}")),
                other => panic!("unexpected {other:?}"),
            }
        }
        changes.sort();
        assert_eq!(
            changes,
            [
                "+db-1.db.default.svc.cluster.local 10.0.0.9:3306",
                "-db-0.db.default.svc.cluster.local",
                "-db-1.db.default.svc.cluster.local",
            ]
        );
        assert_eq!(discover.len(), 1);
        drop(tx);
        assert!(discover.next().await.is_none());
    }
}
