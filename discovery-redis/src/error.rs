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
            Error::Discovery(e) => e.is_transient(),
            Error::NotReady(_) => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
