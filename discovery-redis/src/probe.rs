//! Asking one pod what it is.

use std::time::{Duration, Instant};

use discovery::Peer;
use redis::Value;

use crate::connections::Connections;
use crate::role::RoleReport;
use crate::topology::PodStatus;

/// Sends `ROLE` and `INFO replication` in one round trip; a pod whose ACL denies `ROLE`
/// is read from `INFO` alone. A pod that does not answer is reported with its error (and
/// its connection dropped, so the next round reconnects).
pub(crate) async fn probe(connections: &Connections, peer: &Peer, timeout: Duration) -> PodStatus {
    match tokio::time::timeout(timeout, ask(connections, peer)).await {
        Ok(status) => status,
        Err(_) => {
            // A frozen or overloaded pod: whatever is queued on its connection is stale.
            connections.invalidate(peer);
            PodStatus {
                peer: peer.clone(),
                report: None,
                error: Some(format!("{peer}: no answer to the probe within {timeout:?}")),
                latency: None,
                lag_bytes: None,
                lag_seconds: None,
            }
        }
    }
}

async fn ask(connections: &Connections, peer: &Peer) -> PodStatus {
    let mut status = PodStatus {
        peer: peer.clone(),
        report: None,
        error: None,
        latency: None,
        lag_bytes: None,
        lag_seconds: None,
    };
    let mut conn = match connections.get(peer).await {
        Ok(conn) => conn,
        Err(e) => {
            status.error = Some(e.to_string());
            return status;
        }
    };
    let started = Instant::now();
    let replies: redis::RedisResult<(Value, Value)> = redis::pipe()
        .cmd("ROLE")
        .cmd("INFO")
        .arg("replication")
        .ignore_errors()
        .query_async(&mut conn)
        .await;
    let latency = started.elapsed();
    match replies {
        Ok((role, info)) => {
            let info = match info {
                Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
                Value::VerbatimString { text, .. } => Some(text),
                _ => None,
            };
            let report = match &role {
                Value::ServerError(_) => info.as_deref().and_then(RoleReport::from_info),
                role => RoleReport::from_role(role, info.as_deref()),
            };
            match report {
                Some(report) => {
                    status.report = Some(report);
                    status.latency = Some(latency);
                }
                None => status.error = Some(format!("no usable ROLE or INFO reply: {role:?}")),
            }
        }
        Err(e) => {
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                connections.invalidate(peer);
            }
            // A loading replica answers `LOADING`: it is up but cannot serve yet.
            status.error = Some(e.to_string());
        }
    }
    status
}
