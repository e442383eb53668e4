//! The crate's error type.

use std::time::Duration;

/// What can go wrong routing a statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Discovery failed (bad name, DNS).
    #[error(transparent)]
    Discovery(#[from] discovery::Error),

    /// No pod is writable and not replicating, and none became so within `failover_wait`.
    #[error(
        "no MySQL primary among the pods of `{service}` after waiting {waited:?} ({pods} pods probed); a failover may be in progress"
    )]
    NoPrimary {
        /// The Service.
        service: String,
        /// How long the write waited.
        waited: Duration,
        /// How many pods were probed.
        pods: usize,
    },

    /// Several pods are writable and not replicating, and the replicas do not tell which
    /// is right: writes are refused rather than sent to two primaries.
    #[error(
        "several pods of `{service}` are writable primaries ({primaries}) and the replicas do not settle it; writes are refused until one remains (or set `tie_break_ordinal`)"
    )]
    SplitBrain {
        /// The Service.
        service: String,
        /// The claimants, comma-separated.
        primaries: String,
    },

    /// No pod fits the read policy (no replica within `max_replica_lag` for
    /// `ReadPolicy::Replica`, say).
    #[error("no pod of `{service}` can serve reads with {policy}: {why}")]
    NoReadablePod {
        /// The Service.
        service: String,
        /// The policy, as text.
        policy: String,
        /// Why each candidate was left out.
        why: String,
    },

    /// A pod failed the statement or could not be reached.
    #[error("MySQL pod {pod}: {source}")]
    Pod {
        /// The pod's hostname and address.
        pod: String,
        /// The driver's error (never includes the password).
        #[source]
        source: mysql_async::Error,
    },

    /// A pod did not connect or answer in time.
    #[error("MySQL pod {pod}: no {what} within {after:?}")]
    Timeout {
        /// The pod's hostname and address.
        pod: String,
        /// What was awaited ("connection", "reply").
        what: &'static str,
        /// The configured bound.
        after: Duration,
    },

    /// The cluster handle is shut down.
    #[error("the MySQL cluster handle for `{0}` has stopped")]
    Stopped(String),
}

impl Error {
    /// Whether the same statement may succeed later (a failover in progress, a pod away).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::NoPrimary { .. }
            | Error::SplitBrain { .. }
            | Error::NoReadablePod { .. }
            | Error::Timeout { .. } => true,
            Error::Pod { source, .. } => {
                crate::classify::of(source) != crate::classify::Verdict::Fine
            }
            Error::Discovery(e) => e.is_transient(),
            Error::Stopped(_) => false,
        }
    }

    /// The server's error code, when the server refused the statement (1290: read-only,
    /// 1062: duplicate key…).
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Error::Pod {
                source: mysql_async::Error::Server(e),
                ..
            } => Some(e.code),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
