//! [`PodService`]: one pod as a tower service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    conn: Option<MultiplexedConnection>,
    connecting: Option<BoxFuture<'static, Result<MultiplexedConnection>>>,
    retry: Option<Pin<Box<tokio::time::Sleep>>>,
    /// What a call's future needs on its error path, behind an `Arc` of this service's
    /// own: cloning it per call touches no reference count shared with other tasks.
    shared: Arc<CallContext>,
}

struct CallContext {
    router: RedisRouter,
    peer: Peer,
    broken: AtomicBool,
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

impl tower::Service<Cmd> for PodService {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.shared.broken.swap(false, Ordering::AcqRel) {
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
                    self.router.pod_failed(&self.peer);
                    self.retry = Some(Box::pin(tokio::time::sleep(RECONNECT_DELAY)));
                }
            }
            self.connecting = None;
        }
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        let Some(mut conn) = self.conn.clone() else {
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
                Verdict::Fine => {}
                Verdict::NotMaster | Verdict::Unavailable => shared.router.refresh(),
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
