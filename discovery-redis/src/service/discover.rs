//! [`ReplicaDiscover`]: the healthy replicas as a tower `Discover` stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use headless_discovery::roles::balance::FitReplicas;
use headless_discovery::{Change, Peer, PeerKey};

use super::PodService;
use crate::role::RoleReport;
use crate::router::RedisRouter;

type Make = Box<dyn FnMut(&Peer) -> PodService + Send>;

/// Follows the router's topology and yields `Insert` for each replica fit to serve reads
/// (up, linked to the master, not lagging) and `Remove` when one stops being fit, moves,
/// or leaves. Never errs and never ends while the router lives.
///
/// It follows the configured read policy's replicas ([`Topology::read_replicas`](headless_discovery::roles::Topology::read_replicas)):
/// under `SameZone`, only the zone's while one is fit.
///
/// The [`PodService`]s it inserts carry their own peak-EWMA load, so tower's
/// `p2c::Balance::new(ReplicaDiscover::new(&router))` balances them as they are;
/// [`ReplicaService`](super::ReplicaService) is that, lighter, with a bounded wait.
pub struct ReplicaDiscover {
    inner: FitReplicas<RoleReport, Make, PodService>,
}

impl std::fmt::Debug for ReplicaDiscover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaDiscover")
            .field("replicas", &self.inner.len())
            .finish_non_exhaustive()
    }
}

impl ReplicaDiscover {
    /// Starts from the router's current topology.
    pub fn new(router: &RedisRouter) -> Self {
        let maker = router.clone();
        let make: Make =
            Box::new(move |peer: &Peer| PodService::replica(maker.clone(), peer.clone()));
        Self {
            inner: FitReplicas::for_policy(
                router.roles().topology_changes(),
                router.config().roles.read_policy.clone(),
                make,
            ),
        }
    }
}

impl Stream for ReplicaDiscover {
    type Item = Result<Change<PeerKey, PodService>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}
