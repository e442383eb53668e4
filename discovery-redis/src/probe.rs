//! Asking one pod what it is: the Redis side of the core's role engine.

use headless_discovery::Peer;
use headless_discovery::roles::{Probe, Verdict};
use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::connections::Connections;
use crate::error::Error;
use crate::reply;
use crate::role::RoleReport;

/// Sends `ROLE` and `INFO replication` in one round trip over the pod's multiplexed
/// connection, the one commands use (so that a connection a command found broken is
/// replaced for both); a pod whose ACL denies `ROLE` is read from `INFO` alone.
#[derive(Debug)]
pub(crate) struct RedisProbe {
    pub(crate) connections: Connections,
}

/// Why a probe got no report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error(transparent)]
    Pod(#[from] Error),
    #[error("no usable ROLE or INFO reply: {reply}")]
    Unusable { reply: String },
}

impl Probe for RedisProbe {
    type Report = RoleReport;
    /// The engine holds nothing: the connection lives in [`Connections`].
    type Conn = ();
    type Error = ProbeError;
    const STORE: &'static str = "redis";

    async fn connect(&self, peer: &Peer) -> Result<(), ProbeError> {
        self.connections.get(peer).await?;
        Ok(())
    }

    async fn ask(&self, peer: &Peer, (): &mut ()) -> Result<RoleReport, ProbeError> {
        let mut conn: MultiplexedConnection = self.connections.get(peer).await?.conn;
        let replies: redis::RedisResult<(Value, Value)> = redis::pipe()
            .cmd("ROLE")
            .cmd("INFO")
            .arg("replication")
            .ignore_errors()
            .query_async(&mut conn)
            .await;
        let (role, info) = replies.map_err(|source| {
            if source.is_io_error() || source.is_connection_dropped() || source.is_timeout() {
                self.connections.invalidate(peer);
            }
            // A loading replica answers `LOADING`: it is up but cannot serve yet.
            Error::Pod {
                pod: peer.clone(),
                source,
            }
        })?;
        let info = match info {
            Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
            Value::VerbatimString { text, .. } => Some(text),
            _ => None,
        };
        if reply::of_value(&role) == Verdict::Rejected
            && let Value::ServerError(refusal) = role
        {
            return Err(ProbeError::Pod(Error::Pod {
                pod: peer.clone(),
                source: refusal.into(),
            }));
        }
        let report = match &role {
            Value::ServerError(_) => info.as_deref().and_then(RoleReport::from_info),
            role => RoleReport::from_role(role, info.as_deref()),
        };
        report.ok_or_else(|| ProbeError::Unusable {
            reply: format!("{role:?}"),
        })
    }

    /// Credentials or a certificate the pod refuses are [`Verdict::Rejected`]; anything
    /// else that failed is the pod being away.
    fn verdict(&self, error: &ProbeError) -> Verdict {
        match error {
            ProbeError::Pod(Error::Pod { source, .. }) => reply::of_error(source),
            _ => Verdict::Broken,
        }
    }

    /// A frozen or overloaded pod: whatever is queued on its shared connection is stale.
    fn timed_out(&self, peer: &Peer) {
        self.connections.invalidate(peer);
    }

    async fn round_done(
        &self,
        peers: &headless_discovery::PeerSet,
        _: &headless_discovery::roles::Topology<RoleReport>,
    ) {
        self.connections.retain(peers);
    }
}
