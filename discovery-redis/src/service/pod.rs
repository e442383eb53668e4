//! [`PodService`]: one pod as a tower service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use headless_discovery::Peer;
use headless_discovery::roles::Verdict;
use headless_discovery::roles::balance::{Cost, PeakEwmaMeter, Started};
use redis::{Cmd, Value};

use crate::connections::Connection;
use crate::error::{Error, Result};
use crate::reply;
use crate::router::RedisRouter;

/// How long to wait before connecting again to a pod that refused.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);
/// How long an unmeasured pod is assumed to take (the peak-EWMA's starting estimate).
const DEFAULT_RTT: Duration = Duration::from_millis(1);
/// How fast the peak-EWMA forgets a latency peak.
const DECAY: Duration = Duration::from_secs(1);

/// `Service<Cmd>` for one pod.
///
/// `poll_ready` connects (by IP, sharing the router's connection to the pod) and is
/// `Pending` while the pod cannot be reached, retrying every 250 ms, so a balancer simply
/// routes around it; it never fails, because tower's balancer drops an endpoint for good
/// when its `poll_ready` errs. A call that breaks the connection, or a socket that met
/// EOF, makes the next `poll_ready` reconnect and the router re-probe.
///
/// A call is sent once. A write whose connection broke after it was written fails as
/// [`Error::OutcomeUnknown`]; every other failure is [`Error::Pod`] (a read applies
/// nothing, and a call on a socket already dead was never sent).
///
/// Its [`Load`](tower::load::Load) is tower's peak-EWMA cost of its own calls (response
/// time times calls in flight plus one), measured in its response future rather than by
/// a wrapper, so tower's `p2c::Balance` can weigh pod services as they are. Response times
/// are measured from the first time the load is read (see
/// [`PeakEwmaMeter`]): a service nobody weighs skips the clock reads.
pub struct PodService {
    router: RedisRouter,
    peer: Peer,
    conn: Option<Connection>,
    connecting: Option<BoxFuture<'static, Result<Connection>>>,
    retry: Option<Pin<Box<tokio::time::Sleep>>>,
    /// What a call's future needs, behind an `Arc` of this service's own: cloning it per
    /// call touches no reference count shared with other tasks.
    shared: Arc<CallContext>,
}

struct CallContext {
    router: RedisRouter,
    peer: Peer,
    broken: AtomicBool,
    meter: PeakEwmaMeter,
    /// One replica among others (a balancer's): a read whose connection failed may go to
    /// another pod.
    reads_elsewhere: bool,
}

/// One call in flight: its reference to the context counts it in the pod's load until
/// its response comes or it is dropped unanswered, when its time is recorded.
struct InFlight {
    shared: Arc<CallContext>,
    started: Option<Started>,
}

impl InFlight {
    fn start(shared: &Arc<CallContext>) -> Self {
        Self {
            started: Some(shared.meter.start()),
            shared: Arc::clone(shared),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(started) = self.started.take() {
            self.shared.meter.finish(started);
        }
    }
}

impl std::fmt::Debug for PodService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodService")
            .field("pod", &self.peer)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl Clone for PodService {
    /// A clone connects on its own first `poll_ready` (to the same shared connection).
    fn clone(&self) -> Self {
        let (router, peer) = (self.router.clone(), self.peer.clone());
        Self::with_reads_elsewhere(router, peer, self.shared.reads_elsewhere)
    }
}

impl PodService {
    /// The pod alone: what is sent to it stays there.
    pub(crate) fn new(router: RedisRouter, peer: Peer) -> Self {
        Self::with_reads_elsewhere(router, peer, false)
    }

    /// One of the replicas a balancer spreads reads over: a read-only command (per the
    /// router's [`CommandTable`](crate::CommandTable)) whose connection failed goes once
    /// to another pod the read policy allows.
    pub(crate) fn replica(router: RedisRouter, peer: Peer) -> Self {
        Self::with_reads_elsewhere(router, peer, true)
    }

    fn with_reads_elsewhere(router: RedisRouter, peer: Peer, reads_elsewhere: bool) -> Self {
        Self {
            shared: Arc::new(CallContext {
                router: router.clone(),
                peer: peer.clone(),
                broken: AtomicBool::new(false),
                meter: PeakEwmaMeter::new(DEFAULT_RTT, DECAY),
                reads_elsewhere,
            }),
            router,
            peer,
            conn: None,
            connecting: None,
            retry: None,
        }
    }

    /// The pod.
    pub fn pod(&self) -> &Peer {
        &self.peer
    }
}

impl tower::load::Load for PodService {
    type Metric = Cost;

    fn load(&self) -> Cost {
        // Each call in flight holds a reference, besides this service's own.
        let in_flight = Arc::strong_count(&self.shared) - 1;
        self.shared.meter.cost(in_flight)
    }
}

impl tower::Service<Cmd> for PodService {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        // Loaded first: a swap is a locked write on every poll, and breaks are rare.
        if self.shared.broken.load(Ordering::Acquire)
            && self.shared.broken.swap(false, Ordering::AcqRel)
        {
            self.conn = None;
        }
        // Its socket met EOF or a reset: a call now would never be sent.
        if self.conn.as_ref().is_some_and(Connection::is_closed) {
            self.conn = None;
        }
        loop {
            if self.conn.is_some() {
                return Poll::Ready(Ok(()));
            }
            if let Some(retry) = &mut self.retry {
                futures::ready!(retry.as_mut().poll(cx));
                self.retry = None;
            }
            let connecting = self.connecting.get_or_insert_with(|| {
                let (router, peer) = (self.router.clone(), self.peer.clone());
                Box::pin(async move { router.connection(&peer).await })
            });
            match futures::ready!(connecting.as_mut().poll(cx)) {
                Ok(conn) => self.conn = Some(conn),
                Err(error) => {
                    tracing::debug!(pod = %self.peer, %error, "pod unreachable; retrying");
                    self.router.observe(&self.peer, Verdict::Broken);
                    self.retry = Some(Box::pin(tokio::time::sleep(RECONNECT_DELAY)));
                }
            }
            self.connecting = None;
        }
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        let Some(mut conn) = self.conn.clone() else {
            return Box::pin(std::future::ready(Err(Error::NotReady("PodService"))));
        };
        let call = InFlight::start(&self.shared);
        Box::pin(async move {
            let before = conn.written();
            let result = conn.conn.send_packed_command(&cmd).await;
            let shared = &call.shared;
            let verdict = reply::of_result(&result);
            if verdict.pod_lost() {
                shared.broken.store(true, Ordering::Release);
            }
            shared.router.observe(&shared.peer, verdict);
            let result = result.and_then(Value::extract_error).map_err(|source| {
                let writes = !shared.router.commands().is_read_cmd(&cmd);
                reply::pod_error(&shared.peer, source, !conn.never_sent(before), writes)
            });
            match result {
                Err(error)
                    if shared.reads_elsewhere
                        && verdict.pod_lost()
                        && shared.router.commands().is_read_cmd(&cmd) =>
                {
                    // Boxed: the cold path does not grow every call's future.
                    Box::pin(shared.router.read_elsewhere(&cmd, error)).await
                }
                result => result,
            }
        })
    }
}
