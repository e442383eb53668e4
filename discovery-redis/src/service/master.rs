//! [`MasterService`]: writes as a tower service.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use redis::{Cmd, Value};

use crate::error::{Error, Result};
use crate::router::RedisRouter;

/// `Service<Cmd>` that sends every command to the current master, with the failover
/// behaviour of [`LeaderConnection`](crate::LeaderConnection).
#[derive(Clone, Debug)]
pub struct MasterService {
    router: RedisRouter,
}

impl MasterService {
    pub(crate) fn new(router: RedisRouter) -> Self {
        Self { router }
    }
}

impl tower::Service<Cmd> for MasterService {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, cmd: Cmd) -> Self::Future {
        let router = self.router.clone();
        Box::pin(async move { router.master().await?.query(&cmd).await })
    }
}
