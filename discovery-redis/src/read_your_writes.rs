//! Reads that see your writes: [`RedisRouter::replica_after`] and
//! [`RedisRouter::query_after`].

use std::time::Duration;

use headless_discovery::roles::{ReadPolicy, any_of};
use redis::{Cmd, Value};
use tracing::debug;

use crate::error::Result;
use crate::pod::PodConnection;
use crate::role::RoleReport;
use crate::router::RedisRouter;
use crate::token::ConsistencyToken;
use crate::topology::PodStatus;

/// How often a replica is asked its offset while a read waits for it: replication on one
/// network takes well under a millisecond per write.
const POLL: Duration = Duration::from_millis(1);

impl RedisRouter {
    /// A connection for reading your write back: a fit replica that has applied `token`
    /// (known from the latest probe, else confirmed by asking the replica its offset with
    /// `ROLE`, for up to `read_your_writes_wait`), else the master
    /// ([`PodConnection::is_fallback`] says so). Offsets compare only under the token's
    /// replication id (or a replica's `master_replid2` below `second_repl_offset`).
    ///
    /// The connection stays on its pod, whose offset only grows: later reads on it see
    /// the write too.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read) with [`ReadPolicy::Leader`], when the read goes to the
    /// master.
    pub async fn replica_after(&self, token: &ConsistencyToken) -> Result<PodConnection> {
        if !token.is_leader_only()
            && let Some(conn) = self.replica_reaching(token).await
        {
            return Ok(conn);
        }
        Ok(self.read(&ReadPolicy::Leader).await?.into_fallback())
    }

    /// Sends a read that sees the write `token` came from (see
    /// [`replica_after`](Self::replica_after)).
    ///
    /// # Errors
    ///
    /// As [`replica_after`](Self::replica_after), or the server's reply error.
    pub async fn query_after(&self, token: &ConsistencyToken, cmd: &Cmd) -> Result<Value> {
        self.replica_after(token).await?.query(cmd).await
    }

    /// A fit replica that holds the write, if one does in time.
    async fn replica_reaching(&self, token: &ConsistencyToken) -> Option<PodConnection> {
        let topology = self.topology();
        // The replicas the read policy reads from (a zone's under `SameZone`).
        let fit = topology.read_replicas(&self.config().roles.read_policy);
        let known: Vec<&PodStatus> = fit
            .iter()
            .copied()
            .filter(|pod| {
                pod.report
                    .as_ref()
                    .is_some_and(|r| token.reached(r, r.offset.unwrap_or(0)))
            })
            .collect();
        if let Some(pod) = any_of(&known) {
            let conn = self.connection(&pod.peer).await.ok()?;
            return Some(PodConnection::new(
                self.clone(),
                pod.peer.clone(),
                conn,
                false,
            ));
        }
        // In the same history but not there yet at the last probe: ask it.
        let candidates: Vec<&PodStatus> = fit
            .iter()
            .copied()
            .filter(|pod| {
                pod.report.as_ref().is_some_and(|r| {
                    r.replid.as_deref() == token.replid() || r.replid2.as_deref() == token.replid()
                })
            })
            .collect();
        let pod = any_of(&candidates)?;
        let history = pod.report.as_ref()?;
        let mut conn = self.connection(&pod.peer).await.ok()?;
        let deadline = tokio::time::Instant::now() + self.config().read_your_writes_wait;
        let ask = redis::cmd("ROLE");
        loop {
            // A frozen replica must not hold the read past the wait.
            let asked = ask.query_async::<Value>(&mut conn.conn);
            let role = tokio::time::timeout_at(deadline, asked).await.ok()?.ok()?;
            let offset = RoleReport::from_role_reply(&role).and_then(|r| r.offset);
            if offset.is_some_and(|offset| token.reached(history, offset)) {
                return Some(PodConnection::new(
                    self.clone(),
                    pod.peer.clone(),
                    conn,
                    false,
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                debug!(pod = %pod.peer, ?offset, wanted = token.offset(), "no replica reached the write in time; reading from the master");
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
