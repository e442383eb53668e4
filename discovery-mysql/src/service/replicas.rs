//! [`ReplicaService`]: reads balanced over the fit replicas.

use std::task::{Context, Poll};

use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::router::MySqlRouter;
use crate::statement::{Reply, Statement};

/// `Service<Statement>` for reads, per the configured
/// [`ReadPolicy`](crate::ReadPolicy): [`MySqlRouter::query`]. Replicas are chosen by
/// the cluster's shared balancer (power of two choices over PeakEwma), so every clone of
/// this service, and every other read, weighs the same load figures. A read whose
/// replica's connection failed goes once to another pod, as [`MySqlRouter::query`] says.
#[derive(Clone, Debug)]
pub struct ReplicaService {
    cluster: MySqlRouter,
}

impl ReplicaService {
    pub(crate) fn new(cluster: MySqlRouter) -> Self {
        Self { cluster }
    }
}

impl tower::Service<Statement> for ReplicaService {
    type Response = Reply;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Reply>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, statement: Statement) -> Self::Future {
        let cluster = self.cluster.clone();
        Box::pin(async move { cluster.query(statement).await })
    }
}
