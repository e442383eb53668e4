//! [`ReplicaService`]: reads balanced over the healthy replicas.

use std::future::ready;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use headless_discovery::PeerKey;
use headless_discovery::roles::balance::{P2c, WaitBound};
use redis::{Cmd, Value};
use tower::Service;

use super::{PodService, ReplicaDiscover};
use crate::error::{Error, Result};
use crate::router::RedisRouter;

/// `Service<Cmd>` for reads: power of two choices ([`P2c`]) over the replicas fit to serve
/// reads (the local ones first under a locality read policy, as [`ReplicaDiscover`] says), weighed by each [`PodService`]'s peak-EWMA load. With none fit, a request waits
/// up to `failover_wait`, then fails with [`RoleError::NoReadablePod`](headless_discovery::roles::RoleError::NoReadablePod) saying why each pod was
/// left out. A read-only command (per the router's [`CommandTable`](crate::CommandTable))
/// whose replica's connection failed (broke, or no reply in time) goes once to another
/// pod the read policy allows.
///
/// Its response future is the chosen pod's own: the load is measured inside it, and the
/// bounded wait is [`WaitForPeers`](headless_discovery::balance::WaitForPeers)'s timer
/// ([`WaitBound`]) without its future layer, because on loopback every layer around a GET
/// was a visible share of its cost (BENCHMARKS.md).
///
/// Cloning gives another balancer over the same replicas and connections, for tasks that
/// each want their own instead of sharing one behind a `Buffer`.
pub struct ReplicaService {
    router: RedisRouter,
    balancer: P2c<ReplicaDiscover, PeerKey, PodService>,
    /// Runs while no replica is ready; when it runs out, the next call fails.
    wait: WaitBound,
    /// The wait ran out: the next call fails with `NoReadablePod`.
    shed: bool,
}

impl Clone for ReplicaService {
    fn clone(&self) -> Self {
        Self::new(&self.router)
    }
}

impl std::fmt::Debug for ReplicaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaService")
            .field("replicas", &self.balancer.len())
            .finish_non_exhaustive()
    }
}

impl ReplicaService {
    pub(crate) fn new(router: &RedisRouter) -> Self {
        Self {
            router: router.clone(),
            balancer: P2c::new(ReplicaDiscover::new(router)),
            wait: WaitBound::new(router.config().roles.failover_wait),
            shed: false,
        }
    }

    /// Why no replica may serve reads (after waiting `failover_wait`).
    fn no_readable_pod(&self) -> Error {
        let topology = self.router.topology();
        self.router
            .roles()
            .unplaceable(&topology, &self.router.config().roles.read_policy)
            .into()
    }
}

impl Service<Cmd> for ReplicaService {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        // The balancer never errs: it is ready or waits for a ready replica, with
        // discovery and the replicas it polled set to wake this task.
        if self.balancer.poll_ready(cx).is_ready() {
            self.wait.reset();
            self.shed = false;
            return Poll::Ready(Ok(()));
        }
        futures::ready!(self.wait.poll_expired(cx));
        self.shed = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        if std::mem::take(&mut self.shed) {
            let error = self.no_readable_pod();
            return Box::pin(ready(Err(error)));
        }
        match self.balancer.call_chosen(cmd) {
            Some(response) => response,
            None => Box::pin(ready(Err(Error::NotReady("ReplicaService")))),
        }
    }
}
