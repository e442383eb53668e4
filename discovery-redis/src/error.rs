//! The crate's error type.

use headless_discovery::Peer;
use headless_discovery::roles::RoleError;

/// What can go wrong routing a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Discovery failed (bad name, DNS).
    #[error(transparent)]
    Discovery(#[from] headless_discovery::Error),

    /// No master, several, or no pod fit for the read: the role engine's verdict
    /// ([`RoleError::NoLeader`], [`RoleError::SplitBrain`], [`RoleError::NoReadablePod`]).
    #[error(transparent)]
    Roles(#[from] RoleError),

    /// A pod failed the command or could not be reached.
    #[error("Redis pod {pod}: {source}")]
    Pod {
        /// The pod.
        pod: Peer,
        /// The client's error (never includes the password).
        #[source]
        source: redis::RedisError,
    },

    /// The connection to the pod broke or timed out after the command was written: it
    /// may or may not have been applied, so it was not sent again. Check (or make the
    /// command idempotent) before sending it yourself.
    #[error(
        "Redis pod {pod}: the connection failed after the command was sent, so whether it was applied is unknown (not retried): {source}"
    )]
    OutcomeUnknown {
        /// The pod the command went to.
        pod: Peer,
        /// The connection's error.
        #[source]
        source: redis::RedisError,
    },

    /// A tower service was called without its `poll_ready` having returned `Ready(Ok)`
    /// first, which the `Service` contract requires.
    #[error(
        "{0} was called before poll_ready returned Ready(Ok); await `ready()` before each call"
    )]
    NotReady(&'static str),
}

impl Error {
    /// Whether the same command may succeed later (a failover in progress, a pod away).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Roles(e) => e.is_transient(),
            Error::Pod { source, .. } => {
                source.is_io_error() || source.is_timeout() || source.is_connection_dropped()
            }
            Error::OutcomeUnknown { .. } => true,
            Error::Discovery(e) => e.is_transient(),
            Error::NotReady(_) => false,
        }
    }

    /// Whether the command may have been applied although it failed
    /// ([`OutcomeUnknown`](Self::OutcomeUnknown)).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// The pod the error is about, if any.
    pub fn pod(&self) -> Option<&Peer> {
        match self {
            Error::Pod { pod, .. } | Error::OutcomeUnknown { pod, .. } => Some(pod),
            _ => None,
        }
    }

    /// This crate's error inside a `RedisError` that a `ConnectionLike` type of ours
    /// returned (through `AsyncCommands`, `query_async`…), with its pod and typed cause.
    /// `None` for an error about the command itself (`WRONGTYPE`…), which redis-rs
    /// passes on as the server sent it.
    ///
    /// ```
    /// use headless_discovery_redis::Error;
    ///
    /// fn explain(error: &redis::RedisError) -> String {
    ///     match Error::from_redis(error) {
    ///         Some(e) if e.is_outcome_unknown() => format!("maybe applied on {:?}", e.pod()),
    ///         Some(e) => format!("not applied: {e}"),
    ///         None => format!("the server refused the command: {error}"),
    ///     }
    /// }
    /// ```
    pub fn from_redis(error: &redis::RedisError) -> Option<&Error> {
        crate::reply::io_error_of(error)?
            .get_ref()?
            .downcast_ref::<Error>()
    }
}

impl headless_discovery::roles::Resendable for Error {
    /// Not applied and may pass: no master in time, a refusal, a pod that could not be
    /// dialled or a connection known dead before the command. Never an unknown outcome,
    /// never an error about the command itself (`WRONGTYPE`).
    fn is_resendable(&self) -> bool {
        match self {
            Error::Roles(e) => e.is_transient(),
            // A write that may have been applied is `OutcomeUnknown`, never `Pod`: a
            // connection error here was met before anything was sent (or by a read).
            Error::Pod { source, .. } => {
                crate::reply::refusal_error(source)
                    || source.is_io_error()
                    || source.is_connection_dropped()
                    || source.is_timeout()
            }
            Error::Discovery(e) => e.is_transient(),
            Error::OutcomeUnknown { .. } | Error::NotReady(_) => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
