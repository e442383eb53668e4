//! [`PodConnection`]: a connection to one chosen pod, for reads and sessions.

use headless_discovery::Peer;
use headless_discovery::roles::Verdict;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::connections::Connection;
use crate::error::{Error, Result};
use crate::reply;
use crate::router::RedisRouter;

/// A connection to the pod a [`ReadPolicy`](headless_discovery::roles::ReadPolicy) chose. Implements redis-rs's
/// `ConnectionLike`. A broken connection or a `LOADING`/`MASTERDOWN` reply makes the
/// router re-probe, so the next [`RedisRouter::replica`] call picks another pod.
///
/// It stays on its pod and nothing is sent again. From [`RedisRouter::read`] it shares
/// the pod's multiplexed connection with the router's other requests (reads, atomic
/// pipelines); from [`RedisRouter::session`] it has a connection of its own, for `WATCH`
/// and a `MULTI`/`EXEC` sent command by command.
///
/// A failure is typed and names the pod, through `ConnectionLike` too
/// ([`Error::from_redis`]): a write whose connection broke after it was written is
/// [`Error::OutcomeUnknown`]; one handed to a connection already dead (EOF, a reset) was
/// never sent and is [`Error::Pod`], as is every read (a read applies nothing).
#[derive(Clone)]
pub struct PodConnection {
    router: RedisRouter,
    peer: Peer,
    conn: Connection,
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
    pub(crate) fn new(router: RedisRouter, peer: Peer, conn: Connection, fallback: bool) -> Self {
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
    /// [`Error::Pod`] with the server's error, or the connection's when nothing was sent
    /// or the command is a read; [`Error::OutcomeUnknown`] when the connection broke
    /// after a write was sent.
    pub async fn query(&mut self, cmd: &Cmd) -> Result<Value> {
        self.send(cmd)
            .await?
            .extract_error()
            .map_err(|source| Error::Pod {
                pod: self.peer.clone(),
                source,
            })
    }

    /// Sends `cmd`, noting what the reply says about the pod; a failure of the request
    /// (not an error reply inside it) comes typed.
    async fn send(&mut self, cmd: &Cmd) -> Result<Value> {
        let before = self.conn.written();
        let result = self.conn.conn.send_packed_command(cmd).await;
        self.note(reply::of_result(&result));
        result.map_err(|source| self.error(source, before, self.writes(cmd)))
    }

    /// The typed error for a request handed over when the socket had written `before`.
    fn error(&self, source: RedisError, before: u64, writes: bool) -> Error {
        let sent = !self.conn.never_sent(before);
        reply::pod_error(&self.peer, source, sent, writes)
    }

    /// Whether `cmd` may write: it is not a read of the router's command table.
    fn writes(&self, cmd: &Cmd) -> bool {
        !self.router.commands().is_read_cmd(cmd)
    }

    fn note(&self, verdict: Verdict) {
        self.router.observe(&self.peer, verdict);
    }
}

impl ConnectionLike for PodConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.send(cmd).await.map_err(reply::to_redis_error) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let before = self.conn.written();
            let result = self
                .conn
                .conn
                .send_packed_commands(pipeline, offset, count)
                .await;
            self.note(reply::of_values(&result));
            result.map_err(|source| {
                let writes = pipeline.cmd_iter().any(|cmd| self.writes(cmd));
                reply::to_redis_error(self.error(source, before, writes))
            })
        })
    }

    fn get_db(&self) -> i64 {
        self.router.config().db
    }
}
