//! [`PodConnection`]: a connection to one chosen pod, for reads.

use headless_discovery::Peer;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::error::{Error, Result};
use crate::reply;
use crate::router::RedisRouter;
use headless_discovery::roles::Verdict;

/// A connection to the pod a [`ReadPolicy`](headless_discovery::roles::ReadPolicy) chose. Implements redis-rs's
/// `ConnectionLike`. A broken connection or a `LOADING`/`MASTERDOWN` reply makes the
/// router re-probe, so the next [`RedisRouter::replica`] call picks another pod.
///
/// It stays on its pod: a `MULTI`/`EXEC` or a `WATCH` session never moves.
#[derive(Clone)]
pub struct PodConnection {
    router: RedisRouter,
    peer: Peer,
    conn: MultiplexedConnection,
    fallback: bool,
}

impl std::fmt::Debug for PodConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodConnection")
            .field("pod", &self.peer)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl PodConnection {
    pub(crate) fn new(
        router: RedisRouter,
        peer: Peer,
        conn: MultiplexedConnection,
        fallback: bool,
    ) -> Self {
        Self {
            router,
            peer,
            conn,
            fallback,
        }
    }

    pub(crate) fn into_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }

    /// The pod this connection talks to.
    pub fn pod(&self) -> &Peer {
        &self.peer
    }

    /// Whether the read came here only for want of a pod its policy prefers: the master
    /// for `ReplicaPreferred` (no replica was fit), a replica for `LeaderPreferred`.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// Sends one command, with typed errors.
    ///
    /// # Errors
    ///
    /// [`Error::Pod`] with the server's or the connection's error.
    pub async fn query(&mut self, cmd: &Cmd) -> Result<Value> {
        let result = self.conn.req_packed_command(cmd).await;
        self.note(reply::of_result(&result));
        result
            .and_then(Value::extract_error)
            .map_err(|source| Error::Pod {
                pod: self.peer.clone(),
                source,
            })
    }

    fn note(&self, verdict: Verdict) {
        self.router.observe(&self.peer, verdict);
    }
}

impl ConnectionLike for PodConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.conn.req_packed_command(cmd).await;
            self.note(reply::of_result(&result));
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.conn.req_packed_commands(pipeline, offset, count).await;
            self.note(reply::of_values(&result));
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.router.config().db
    }
}
