//! [`PodService`]: one pod as a tower service.

use std::task::{Context, Poll};

use discovery::Peer;
use futures::future::BoxFuture;
use redis::{Cmd, Value};

use crate::error::{Error, Result};
use crate::pod::PodConnection;
use crate::router::RedisRouter;

/// `Service<Cmd>` for one pod. Connects on first use (by IP) and shares the router's
/// connection to the pod; failures make the router re-probe.
#[derive(Clone, Debug)]
pub struct PodService {
    router: RedisRouter,
    peer: Peer,
}

impl PodService {
    pub(crate) fn new(router: RedisRouter, peer: Peer) -> Self {
        Self { router, peer }
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

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        let (router, peer) = (self.router.clone(), self.peer.clone());
        Box::pin(async move {
            let conn = router.connection(&peer).await?;
            PodConnection::new(router, peer, conn).query(&cmd).await
        })
    }
}
