//! [`PrimaryService`]: writes as a tower service.

use std::task::{Context, Poll};

use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::router::MySqlRouter;
use crate::statement::{Reply, Statement};

/// `Service<Statement>` that runs every statement on the current primary, with the
/// failover behaviour of [`MySqlRouter::execute`].
#[derive(Clone, Debug)]
pub struct PrimaryService {
    cluster: MySqlRouter,
}

impl PrimaryService {
    pub(crate) fn new(cluster: MySqlRouter) -> Self {
        Self { cluster }
    }
}

impl tower::Service<Statement> for PrimaryService {
    type Response = Reply;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Reply>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, statement: Statement) -> Self::Future {
        let cluster = self.cluster.clone();
        Box::pin(async move { cluster.execute(statement).await })
    }
}
