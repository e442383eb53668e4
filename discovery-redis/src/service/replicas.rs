//! [`ReplicaService`]: reads balanced over the healthy replicas.

use std::task::{Context, Poll};
use std::time::Duration;

use discovery::PeerKey;
use discovery::balance::{P2c, P2cFuture, WaitForPeers, WaitFuture};
use redis::{Cmd, Value};
use tower::load::{CompleteOnResponse, PeakEwma, PeakEwmaDiscover};
use tower::{BoxError, Service};

use super::{PodService, ReplicaDiscover};
use crate::error::Error;
use crate::router::RedisRouter;
use crate::select;

/// How long an unmeasured replica is assumed to take (PeakEwma's starting estimate).
const DEFAULT_RTT: Duration = Duration::from_millis(1);
/// How fast PeakEwma forgets a latency peak.
const DECAY: Duration = Duration::from_secs(1);

type Balanced = P2c<PeakEwmaDiscover<ReplicaDiscover>, PeerKey, PeakEwma<PodService>>;

/// `Service<Cmd>` for reads: power-of-two-choices with tower's PeakEwma load over the
/// replicas fit to serve reads ([`P2c`] says why not tower's `Balance` itself). With none
/// fit, a request waits up to `failover_wait`, then fails with [`Error::NoReadablePod`] saying why each pod was left out.
///
/// Cloning gives another balancer over the same replicas and connections, for tasks that
/// each want their own instead of sharing one behind a `Buffer`.
pub struct ReplicaService {
    router: RedisRouter,
    inner: WaitForPeers<Balanced>,
}

impl Clone for ReplicaService {
    fn clone(&self) -> Self {
        Self::new(&self.router)
    }
}

impl std::fmt::Debug for ReplicaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaService").finish_non_exhaustive()
    }
}

impl ReplicaService {
    pub(crate) fn new(router: &RedisRouter) -> Self {
        let discover = PeakEwmaDiscover::new::<Cmd>(
            ReplicaDiscover::new(router),
            DEFAULT_RTT,
            DECAY,
            CompleteOnResponse::default(),
        );
        let explainer = router.clone();
        let inner = WaitForPeers::with_explanation(
            P2c::new(discover),
            router.config().failover_wait,
            move |waited| {
                let topology = explainer.topology();
                let (_, why) = select::replicas(&topology, explainer.config());
                Box::new(Error::NoReadablePod {
                    service: explainer.service_name(),
                    policy: format!("balanced replicas (waited {waited:?})"),
                    why: if why.is_empty() {
                        "no pod discovered".to_owned()
                    } else {
                        why.join("; ")
                    },
                })
            },
        );
        Self {
            router: router.clone(),
            inner,
        }
    }
}

impl Service<Cmd> for ReplicaService {
    type Response = Value;
    type Error = BoxError;
    type Future =
        WaitFuture<P2cFuture<<PeakEwma<PodService> as Service<Cmd>>::Future, Value, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        self.inner.call(cmd)
    }
}
