//! [`ReplicaDiscover`]: the healthy replicas as a tower `Discover` stream.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use discovery::watch::Latest;
use discovery::{Change, PeerKey};
use futures::Stream;

use super::PodService;
use crate::router::RedisRouter;
use crate::select;
use crate::topology::Topology;

/// Follows the router's topology and yields `Insert` for each replica fit to serve reads
/// (up, linked to the master, not lagging) and `Remove` when one stops being fit, moves,
/// or leaves. Never errs and never ends while the router lives.
pub struct ReplicaDiscover {
    router: RedisRouter,
    changes: Latest<Arc<Topology>>,
    current: HashMap<PeerKey, SocketAddr>,
    queue: VecDeque<Change<PeerKey, PodService>>,
}

impl std::fmt::Debug for ReplicaDiscover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaDiscover")
            .field("replicas", &self.current.len())
            .finish_non_exhaustive()
    }
}

impl ReplicaDiscover {
    /// Starts from the router's current topology.
    pub fn new(router: &RedisRouter) -> Self {
        let changes = Latest::new(router.topology_changes());
        let first = changes.borrow().clone();
        let mut this = Self {
            router: router.clone(),
            changes,
            current: HashMap::new(),
            queue: VecDeque::new(),
        };
        this.absorb(&first);
        this
    }

    fn absorb(&mut self, topology: &Topology) {
        let (fit, _) = select::replicas(topology, self.router.config());
        let next: HashMap<PeerKey, &discovery::Peer> =
            fit.iter().map(|p| (p.peer.key(), &p.peer)).collect();
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
                self.queue.push_back(Change::Insert(
                    key,
                    PodService::new(self.router.clone(), peer.clone()),
                ));
            }
        }
    }
}

impl Stream for ReplicaDiscover {
    type Item = Result<Change<PeerKey, PodService>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(change) = self.queue.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            match Pin::new(&mut self.changes).poll_next(cx) {
                Poll::Ready(Some(topology)) => self.absorb(&topology),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
