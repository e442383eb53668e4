//! The crate's error type.

use std::time::Duration;

/// What can go wrong routing a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Discovery failed (bad name, DNS).
    #[error(transparent)]
    Discovery(#[from] discovery::Error),

    /// No pod says it is master, and none did within `failover_wait`.
    #[error(
        "no Redis master among the pods of `{service}` after waiting {waited:?} ({pods} pods probed); a failover may be in progress"
    )]
    NoMaster {
        /// The Service.
        service: String,
        /// How long the write waited.
        waited: Duration,
        /// How many pods were probed.
        pods: usize,
    },

    /// Several pods say they are master and their replicas do not tell which is right:
    /// writes are refused rather than sent to two masters.
    #[error(
        "several pods of `{service}` claim to be master ({masters}) and the replicas do not settle it; writes are refused until one remains (or set `tie_break_ordinal`)"
    )]
    SplitBrain {
        /// The Service.
        service: String,
        /// The claimants, comma-separated.
        masters: String,
    },

    /// No pod fits the read policy (no healthy replica for `ReadFrom::Replica`, say).
    #[error("no pod of `{service}` can serve reads with {policy}: {why}")]
    NoReadablePod {
        /// The Service.
        service: String,
        /// The policy, as text.
        policy: String,
        /// Why each candidate was left out.
        why: String,
    },

    /// A pod failed the command or could not be reached.
    #[error("Redis pod {pod}: {source}")]
    Pod {
        /// The pod's hostname and address.
        pod: String,
        /// The client's error (never includes the password).
        #[source]
        source: redis::RedisError,
    },

    /// A tower service was called without its `poll_ready` having returned `Ready(Ok)`
    /// first, which the `Service` contract requires.
    #[error(
        "{0} was called before poll_ready returned Ready(Ok); await `ready()` before each call"
    )]
    NotReady(&'static str),

    /// The router is shut down.
    #[error("the Redis router for `{0}` has stopped")]
    Stopped(String),
}

impl Error {
    /// Whether the same command may succeed later (a failover in progress, a pod away).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::NoMaster { .. } | Error::SplitBrain { .. } | Error::NoReadablePod { .. } => true,
            Error::Pod { source, .. } => {
                source.is_io_error() || source.is_timeout() || source.is_connection_dropped()
            }
            Error::Discovery(e) => e.is_transient(),
            Error::NotReady(_) | Error::Stopped(_) => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
