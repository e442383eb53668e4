//! [`PodService`]: one pod as a tower service.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use discovery::Peer;
use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::{Cmd, Value};

use crate::error::{Error, Result};
use crate::reply::{self, Verdict};
use crate::router::RedisRouter;

/// How long to wait before connecting again to a pod that refused.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// `Service<Cmd>` for one pod.
///
/// `poll_ready` connects (by IP, sharing the router's connection to the pod) and is
/// `Pending` while the pod cannot be reached, retrying every 250 ms, so a balancer simply
/// routes around it; it never fails, because tower's balancer drops an endpoint for good
/// when its `poll_ready` errs. A call that breaks the connection makes the next
/// `poll_ready` reconnect and the router re-probe.
pub struct PodService {
    router: RedisRouter,
    peer: Peer,
    /// This service's handle on the router's shared connection to the pod.
    origin: Option<MultiplexedConnection>,
    /// The handle the next call moves into its future (see [`CallContext::returned`]).
    next: Option<MultiplexedConnection>,
    connecting: Option<BoxFuture<'static, Result<MultiplexedConnection>>>,
    retry: Option<Pin<Box<tokio::time::Sleep>>>,
    /// What a call's future shares with this service, behind an `Arc` of this service's
    /// own: cloning it per call touches no reference count shared with other tasks.
    shared: Arc<CallContext>,
}

struct CallContext {
    router: RedisRouter,
    peer: Peer,
    broken: AtomicBool,
    /// A finished call hands its connection handle back here for the next one. Cloning a
    /// `MultiplexedConnection` per call instead bumps reference counts that every task
    /// using the pod shares, which costs a measurable share of a loopback round trip at
    /// high rates (BENCHMARKS.md); this lock is only ever contended by this service's own
    /// calls.
    returned: Mutex<Option<MultiplexedConnection>>,
}

impl CallContext {
    fn returned(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // A poisoned slot only means a panic while holding a connection handle.
        self.returned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for PodService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodService")
            .field("pod", &self.peer)
            .field("connected", &self.origin.is_some())
            .finish_non_exhaustive()
    }
}

impl Clone for PodService {
    /// A clone connects on its own first `poll_ready` (to the same shared connection).
    fn clone(&self) -> Self {
        Self::new(self.router.clone(), self.peer.clone())
    }
}

impl PodService {
    pub(crate) fn new(router: RedisRouter, peer: Peer) -> Self {
        Self {
            shared: Arc::new(CallContext {
                router: router.clone(),
                peer: peer.clone(),
                broken: AtomicBool::new(false),
                returned: Mutex::new(None),
            }),
            router,
            peer,
            origin: None,
            next: None,
            connecting: None,
            retry: None,
        }
    }

    /// The pod.
    pub fn pod(&self) -> &Peer {
        &self.peer
    }
}

impl tower::Service<Cmd> for PodService {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        // A load first: the swap writes the flag's cache line on every call otherwise.
        if self.shared.broken.load(Ordering::Acquire)
            && self.shared.broken.swap(false, Ordering::AcqRel)
        {
            self.origin = None;
            self.next = None;
            self.shared.returned().take();
        }
        loop {
            if self.next.is_some() {
                return Poll::Ready(Ok(()));
            }
            if let Some(origin) = &self.origin {
                // The last call's handle if it is back, a new one if calls overlap.
                self.next = Some(
                    self.shared
                        .returned()
                        .take()
                        .unwrap_or_else(|| origin.clone()),
                );
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
                Ok(conn) => self.origin = Some(conn),
                Err(error) => {
                    tracing::debug!(pod = %self.peer, %error, "pod unreachable; retrying");
                    self.router.pod_failed(&self.peer);
                    self.retry = Some(Box::pin(tokio::time::sleep(RECONNECT_DELAY)));
                }
            }
            self.connecting = None;
        }
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        let Some(mut conn) = self.next.take() else {
            let pod = self.peer.to_string();
            return Box::pin(async move {
                Err(Error::Pod {
                    pod,
                    source: redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "PodService called before poll_ready said ready",
                    )),
                })
            });
        };
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let result = conn.send_packed_command(&cmd).await;
            match reply::of_result(&result) {
                Verdict::Fine => *shared.returned() = Some(conn),
                Verdict::NotMaster | Verdict::Unavailable => {
                    *shared.returned() = Some(conn);
                    shared.router.refresh();
                }
                Verdict::Broken => {
                    shared.broken.store(true, Ordering::Release);
                    shared.router.pod_failed(&shared.peer);
                }
            }
            result
                .and_then(Value::extract_error)
                .map_err(|source| Error::Pod {
                    pod: shared.peer.to_string(),
                    source,
                })
        })
    }
}
