//! [`PodService`]: one pod as a tower service.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use headless_discovery::Peer;

use crate::error::{Error, Result};
use crate::router::MySqlRouter;
use crate::statement::{Reply, Statement};

/// `Service<Statement>` for one pod, whatever its role, on the pod's pool. Always ready:
/// the pool connects on demand within `connect_timeout`.
#[derive(Clone, Debug)]
pub struct PodService {
    cluster: MySqlRouter,
    peer: Peer,
}

impl PodService {
    pub(crate) fn new(cluster: MySqlRouter, peer: Peer) -> Self {
        Self { cluster, peer }
    }

    /// The pod.
    pub fn pod(&self) -> &Peer {
        &self.peer
    }
}

impl tower::Service<Statement> for PodService {
    type Response = Reply;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Reply>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, statement: Statement) -> Self::Future {
        let (cluster, peer) = (self.cluster.clone(), self.peer.clone());
        Box::pin(async move {
            let mut conn = cluster.conn(&peer).await?;
            cluster.run(&mut conn, &statement).await
        })
    }
}
