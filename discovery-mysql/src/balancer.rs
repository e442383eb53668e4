//! Reads balanced over the fit replicas the read policy prefers: power of two choices over PeakEwma, where a
//! pod's latency is how long its connections stay checked out.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use headless_discovery::roles::ReadPolicy;
use headless_discovery::roles::balance::{FitReplicas, P2c, P2cFuture};
use headless_discovery::{Peer, PeerKey};
use tower::Service;
use tower::load::peak_ewma::Handle;
use tower::load::{PeakEwma, PeakEwmaDiscover, TrackCompletion};

use crate::error::Error;
use crate::pod::PodConnection;
use crate::pools::Pools;
use crate::report::ServerReport;
use crate::topology::Topology;

/// How long an unmeasured replica is assumed to take (PeakEwma's starting estimate).
const DEFAULT_RTT: Duration = Duration::from_millis(1);
/// How fast PeakEwma forgets a latency peak.
const DECAY: Duration = Duration::from_secs(1);

/// Checks a connection out of one pod's pool.
pub(crate) struct Checkout {
    pools: Pools,
    peer: Peer,
}

impl Service<()> for Checkout {
    type Response = PodConnection;
    type Error = Error;
    type Future = BoxFuture<'static, Result<PodConnection, Error>>;

    /// Always ready: the pool connects on demand, within `connect_timeout`.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let (pools, peer) = (self.pools.clone(), self.peer.clone());
        Box::pin(async move { pools.conn(&peer).await })
    }
}

/// Ends a PeakEwma measurement when the connection is dropped (back to the pool), not
/// when the checkout completes: what a read costs on a pod is the time it holds the
/// connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UntilReturned;

impl TrackCompletion<Handle, PodConnection> for UntilReturned {
    type Output = PodConnection;

    fn track_completion(&self, handle: Handle, conn: PodConnection) -> PodConnection {
        conn.with_load(handle)
    }
}

type Make = Box<dyn FnMut(&Peer) -> Checkout + Send>;
type Replicas = FitReplicas<ServerReport, Make, Checkout>;
type Balanced =
    P2c<PeakEwmaDiscover<Replicas, UntilReturned>, PeerKey, PeakEwma<Checkout, UntilReturned>>;

/// The checkout future of a balanced read.
pub(crate) type CheckoutFuture =
    P2cFuture<<PeakEwma<Checkout, UntilReturned> as Service<()>>::Future, PodConnection, Error>;

/// One balancer per router, shared by every read.
pub(crate) struct Balancer {
    inner: Mutex<Balanced>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer").finish_non_exhaustive()
    }
}

impl Balancer {
    /// Balances over the replicas `policy` reads from (a zone's under `SameZone`).
    pub(crate) fn new(
        topology: tokio::sync::watch::Receiver<Arc<Topology>>,
        policy: ReadPolicy,
        pools: Pools,
    ) -> Self {
        let make: Make = Box::new(move |peer: &Peer| Checkout {
            pools: pools.clone(),
            peer: peer.clone(),
        });
        let discover = PeakEwmaDiscover::new::<()>(
            FitReplicas::for_policy(topology, policy, make),
            DEFAULT_RTT,
            DECAY,
            UntilReturned,
        );
        Self {
            inner: Mutex::new(P2c::new(discover)),
        }
    }

    /// Starts a checkout from the better of two fit replicas, or `None` if no replica is
    /// fit in the latest topology. Never waits: the topology is read synchronously.
    pub(crate) fn checkout(&self) -> Option<CheckoutFuture> {
        let mut p2c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match p2c.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Some(p2c.call(())),
            Poll::Ready(Err(_)) | Poll::Pending => None,
        }
    }
}
