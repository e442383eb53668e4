//! [`LeaderConnection`]: a connection that follows the master.

use headless_discovery::Peer;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::Arc;
use tokio::sync::watch;

use crate::topology::Topology;
use tracing::info;

use crate::error::{Error, Result};
use crate::reply;
use crate::router::RedisRouter;
use headless_discovery::roles::Verdict;

/// A connection to whichever pod is master: checked before every command and swapped
/// when a failover moved the master. Implements redis-rs's `ConnectionLike`, so
/// `AsyncCommands` and `query_async` work on it.
///
/// ## Behavior
///
/// - `READONLY` means the pod was demoted and the write was not applied: every pod is
///   asked its role again and the command is retried once on the master that emerges.
/// - `MASTERDOWN`/`LOADING` and broken connections trigger a re-probe and come back as
///   errors: the command may have run, so it is not retried.
/// - It is not a session: a later command may go to a new master, so `MULTI`/`EXEC` and
///   `WATCH` belong on a [`PodConnection`](crate::PodConnection) from
///   `router.read(&ReadPolicy::Leader)`, which stays on its pod.
/// - With no master, a command waits up to `failover_wait`, then fails with
///   [`RoleError::NoLeader`](headless_discovery::roles::RoleError::NoLeader); with several, it fails at once
///   with [`RoleError::SplitBrain`](headless_discovery::roles::RoleError::SplitBrain).
#[derive(Clone)]
pub struct LeaderConnection {
    router: RedisRouter,
    peer: Peer,
    conn: MultiplexedConnection,
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

impl LeaderConnection {
    pub(crate) fn new(router: RedisRouter, peer: Peer, conn: MultiplexedConnection) -> Self {
        let mut topology = router.roles().topology_changes();
        topology.borrow_and_update();
        Self {
            router,
            peer,
            conn,
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
    /// [`Error::Roles`] (no master, several), or [`Error::Pod`] with the server's or
    /// the connection's error.
    pub async fn query(&mut self, cmd: &Cmd) -> Result<Value> {
        let value = self.send(Request::One(cmd)).await?.one();
        value
            .extract_error()
            .map_err(|source| self.pod_error(source))
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
        if still_master {
            return Ok(());
        }
        let (peer, conn) = self.router.current_master().await?;
        if peer != self.peer {
            info!(service = %self.router.service_name(), from = %self.peer, to = %peer, "writes follow the new master");
        }
        self.peer = peer;
        self.conn = conn;
        Ok(())
    }

    /// Sends to the master; on `READONLY`, re-probes and sends once more.
    async fn send(&mut self, request: Request<'_>) -> Result<Reply> {
        self.follow().await?;
        let result = request.run(&mut self.conn).await;
        let verdict = Reply::verdict(&result);
        if verdict.retry_on_new_leader() {
            info!(service = %self.router.service_name(), pod = %self.peer, "READONLY from the master: re-probing and retrying once");
            let (peer, conn) = self.router.master_after_error().await?;
            self.peer = peer;
            self.conn = conn;
            let retried = request.run(&mut self.conn).await;
            self.router.observe(&self.peer, Reply::verdict(&retried));
            return retried.map_err(|source| self.pod_error(source));
        }
        self.router.observe(&self.peer, verdict);
        result.map_err(|source| self.pod_error(source))
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
