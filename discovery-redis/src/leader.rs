//! [`LeaderConnection`]: a connection that follows the master.

use std::sync::Arc;

use headless_discovery::Peer;
use headless_discovery::roles::{Resend, Verdict};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::watch;
use tracing::info;

use crate::connections::Connection;
use crate::error::{Error, Result};
use crate::reply;
use crate::role::RoleReport;
use crate::router::RedisRouter;
use crate::token::ConsistencyToken;
use crate::topology::Topology;

/// A connection to whichever pod is master: checked before every command and swapped
/// when a failover moved the master. Implements redis-rs's `ConnectionLike`, so
/// `AsyncCommands` and `query_async` work on it.
///
/// ## Behavior
///
/// Each command is sent at most once to a pod that could apply it. What the SDK knows
/// was not applied waits for a master (up to `failover_wait` from the command's start,
/// however many pods it tries) and goes there:
///
/// - a refusal: `READONLY` (the pod was demoted), `LOADING`, `MASTERDOWN`; a pipeline
///   only when every one of its replies is such a refusal;
/// - a connection known dead before the command was handed to it (its socket met EOF, a
///   reset or a failed write): the command was never written;
/// - a dial that failed (refused, timed out): nothing was sent.
///
/// A command whose connection broke or timed out after it was written may have been
/// applied: it fails with [`Error::OutcomeUnknown`], naming the pod, and is never sent
/// again. Through `ConnectionLike` every error keeps the pod and its typed cause:
/// [`Error::from_redis`] gets them back from the `RedisError`.
///
/// It is not a session: a later command may go to a new master, so `WATCH` and a
/// `MULTI`/`EXEC` sent command by command belong on a
/// [`RedisRouter::session`](crate::RedisRouter::session), which has a connection of its
/// own and stays on its pod. An atomic pipeline (`redis::pipe().atomic()`) is one request
/// and is fine here. With no master in time a
/// command fails with [`RoleError::NoLeader`](headless_discovery::roles::RoleError::NoLeader);
/// with several still claiming it when `failover_wait` ends, with
/// [`RoleError::SplitBrain`](headless_discovery::roles::RoleError::SplitBrain).
#[derive(Clone)]
pub struct LeaderConnection {
    router: RedisRouter,
    peer: Peer,
    /// None until the first command, and after the pod's socket died.
    conn: Option<Connection>,
    /// Its own receiver: `has_changed` is a read of a shared counter, so checking the
    /// topology before every command costs no write to shared memory.
    topology: watch::Receiver<Arc<Topology>>,
}

impl std::fmt::Debug for LeaderConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderConnection")
            .field("master", &self.peer)
            .finish_non_exhaustive()
    }
}

/// How one attempt on one pod ended.
enum Attempt {
    /// A reply (perhaps an error about the command itself).
    Replied(redis::RedisResult<Reply>),
    /// Known not applied: may go to the next master.
    NotApplied(Error, Verdict),
    /// Final: an error that sending elsewhere cannot fix, or an unknown outcome.
    Failed(Error),
}

impl LeaderConnection {
    pub(crate) fn new(router: RedisRouter, peer: Peer) -> Self {
        let mut topology = router.roles().topology_changes();
        topology.borrow_and_update();
        Self {
            router,
            peer,
            conn: None,
            topology,
        }
    }

    /// The pod this connection last sent to.
    pub fn pod(&self) -> &Peer {
        &self.peer
    }

    /// Sends one command to the master, with typed errors.
    ///
    /// # Errors
    ///
    /// [`Error::Roles`] (no master in time, several), [`Error::Pod`] with the server's
    /// error or a dial that failed, [`Error::OutcomeUnknown`] if the connection broke
    /// after the command was sent.
    pub async fn query(&mut self, cmd: &Cmd) -> Result<Value> {
        let value = self.send(Request::One(cmd)).await?.one();
        value
            .extract_error()
            .map_err(|source| self.pod_error(source))
    }

    /// Sends one command to the master and reads the master's replication position in
    /// the same round trip (`ROLE` pipelined after it), for reading the write back from
    /// a replica with [`RedisRouter::replica_after`]. The same rules as
    /// [`query`](Self::query) decide what is sent again.
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query).
    pub async fn query_with_token(&mut self, cmd: &Cmd) -> Result<(Value, ConsistencyToken)> {
        let mut pipeline = redis::pipe();
        pipeline.add_command(cmd.clone()).cmd("ROLE");
        let mut replies = self
            .send(Request::Tracked(&pipeline))
            .await?
            .many()
            .into_iter();
        let reply = replies.next().unwrap_or(Value::Nil);
        let reply = reply
            .extract_error()
            .map_err(|source| self.pod_error(source))?;
        let token = self.token(replies.next().as_ref());
        Ok((reply, token))
    }

    /// The token for a write this connection just made: the offset from the `ROLE`
    /// reply after it, the replication id from the probe round that named this pod
    /// master (the id changes only when a pod is promoted, which makes a new round).
    fn token(&self, role: Option<&Value>) -> ConsistencyToken {
        let offset = role
            .and_then(RoleReport::from_role_reply)
            .filter(|r| r.role == crate::role::Role::Master)
            .and_then(|r| r.offset);
        let topology = self.topology.borrow();
        let replid = topology
            .leader_pod()
            .filter(|m| m.peer == self.peer)
            .and_then(|m| m.report.as_ref())
            .and_then(|r| r.replid.clone());
        match (replid, offset) {
            (Some(replid), Some(offset)) => ConsistencyToken::new(replid, offset),
            _ => ConsistencyToken::leader_only(),
        }
    }

    /// Points at the current master before a command, if a failover moved it.
    async fn follow(&mut self) -> Result<()> {
        if !self.topology.has_changed().unwrap_or(true) {
            return Ok(());
        }
        let still_master = {
            let topology = self.topology.borrow_and_update();
            topology.leader_pod().is_some_and(|m| m.peer == self.peer)
        };
        if !still_master {
            let peer = self.router.roles().leader().await?;
            self.point_at(peer);
        }
        Ok(())
    }

    fn point_at(&mut self, peer: Peer) {
        if peer != self.peer {
            info!(service = %self.router.service_name(), from = %self.peer, to = %peer, "writes follow the new master");
            self.peer = peer;
            self.conn = None;
        }
        // The round that named it is the one acted on.
        self.topology.borrow_and_update();
    }

    /// Sends to the master; what was not applied waits for a master and goes there.
    async fn send(&mut self, request: Request<'_>) -> Result<Reply> {
        let started = tokio::time::Instant::now();
        self.follow().await?;
        let mut resend: Option<Resend<RoleReport>> = None;
        loop {
            let (error, verdict) = match self.attempt(request).await {
                Attempt::Replied(result) => return result.map_err(|e| self.pod_error(e)),
                Attempt::Failed(error) => return Err(error),
                Attempt::NotApplied(error, verdict) => (error, verdict),
            };
            let resend = resend.get_or_insert_with(|| self.router.roles().resend(started));
            if resend.is_spent() {
                return Err(error);
            }
            info!(service = %self.router.service_name(), pod = %self.peer, %error, "not applied: waiting for the master and sending it there");
            let peer = resend.next_leader(verdict).await?;
            self.point_at(peer);
        }
    }

    /// One attempt on the pod this connection points at.
    async fn attempt(&mut self, request: Request<'_>) -> Attempt {
        let conn = match self.open().await {
            Ok(conn) => conn,
            Err(error) if error.is_transient() => {
                return Attempt::NotApplied(error, Verdict::Broken);
            }
            Err(error) => return Attempt::Failed(error),
        };
        let before = conn.written();
        let result = request.run(&mut conn.conn).await;
        let never_sent = conn.never_sent(before);
        let verdict = Reply::verdict(&result);
        match (verdict, result) {
            (Verdict::NotLeader | Verdict::Unavailable, result)
                if Reply::refused(request, &result) =>
            {
                let error = match result {
                    Ok(reply) => reply.refusal(),
                    Err(source) => source,
                };
                Attempt::NotApplied(self.pod_error(error), verdict)
            }
            (Verdict::Broken, Err(source)) if never_sent => {
                self.conn = None;
                Attempt::NotApplied(self.pod_error(source), verdict)
            }
            (Verdict::Broken, Err(source)) => {
                self.router.observe(&self.peer, verdict);
                self.conn = None;
                Attempt::Failed(Error::OutcomeUnknown {
                    pod: self.peer.clone(),
                    source,
                })
            }
            (verdict, result) => {
                self.router.observe(&self.peer, verdict);
                Attempt::Replied(result)
            }
        }
    }

    /// The connection to send on: the one held, unless its socket is known dead, else
    /// a fresh dial. Borrowed, not cloned: a clone of a multiplexed connection costs
    /// atomics on every command.
    async fn open(&mut self) -> Result<&mut Connection> {
        let conn = match self.conn.take() {
            Some(conn) if !conn.is_closed() => conn,
            _ => self.router.connection(&self.peer).await?,
        };
        Ok(self.conn.insert(conn))
    }

    fn pod_error(&self, source: redis::RedisError) -> Error {
        Error::Pod {
            pod: self.peer.clone(),
            source,
        }
    }
}

impl ConnectionLike for LeaderConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.send(Request::One(cmd))
                .await
                .map(Reply::one)
                .map_err(reply::to_redis_error)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.send(Request::Many(pipeline, offset, count))
                .await
                .map(Reply::many)
                .map_err(reply::to_redis_error)
        })
    }

    fn get_db(&self) -> i64 {
        self.router.config().db
    }
}

/// A command or a pipeline, to send (and maybe send again) to the master.
#[derive(Clone, Copy)]
enum Request<'a> {
    One(&'a Cmd),
    Many(&'a Pipeline, usize, usize),
    /// A command, then `ROLE`: judged by the command's reply alone.
    Tracked(&'a Pipeline),
}

impl Request<'_> {
    async fn run(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<Reply> {
        match *self {
            // The inherent methods: `ConnectionLike`'s would box a second future per command.
            Request::One(cmd) => conn.send_packed_command(cmd).await.map(Reply::One),
            Request::Many(pipeline, offset, count) => conn
                .send_packed_commands(pipeline, offset, count)
                .await
                .map(Reply::Many),
            Request::Tracked(pipeline) => conn
                .send_packed_commands(pipeline, 0, 2)
                .await
                .map(Reply::Many),
        }
    }
}

enum Reply {
    One(Value),
    Many(Vec<Value>),
}

impl Reply {
    fn verdict(result: &redis::RedisResult<Reply>) -> Verdict {
        match result {
            Ok(Reply::One(value)) => reply::of_value(value),
            Ok(Reply::Many(values)) => reply::of_all(values),
            Err(e) => reply::of_error(e),
        }
    }

    /// Whether the pod refused the whole request, so that nothing of it was applied: a
    /// pipeline whose first commands ran before a refusal must not be sent again.
    fn refused(request: Request<'_>, result: &redis::RedisResult<Reply>) -> bool {
        match (request, result) {
            (_, Ok(Reply::One(value))) => reply::refuses(value),
            // `ROLE` runs anywhere: only the command's reply says.
            (Request::Tracked(_), Ok(Reply::Many(values))) => {
                values.first().is_some_and(reply::refuses)
            }
            (_, Ok(Reply::Many(values))) => !values.is_empty() && values.iter().all(reply::refuses),
            (Request::One(_), Err(e)) => reply::refusal_error(e),
            // A transaction the server discarded whole, every command refused.
            (Request::Many(..), Err(e)) if reply::transaction_refused(e) => true,
            // A pipeline's error is named after its first reply: the rest may have run.
            (Request::Many(..) | Request::Tracked(_), Err(_)) => false,
        }
    }

    /// The refusal in a reply that [`refused`](Self::refused), as an error.
    fn refusal(self) -> redis::RedisError {
        let value = match self {
            Reply::One(value) => value,
            Reply::Many(mut values) => values.swap_remove(0),
        };
        match value.extract_error() {
            Err(error) => error,
            Ok(_) => redis::RedisError::from((redis::ErrorKind::Client, "a refused request")),
        }
    }

    fn one(self) -> Value {
        match self {
            Reply::One(value) => value,
            Reply::Many(values) => Value::Array(values),
        }
    }

    fn many(self) -> Vec<Value> {
        match self {
            Reply::One(value) => vec![value],
            Reply::Many(values) => values,
        }
    }
}
