//! The crate's error type.

use std::time::Duration;

use headless_discovery::Peer;
use headless_discovery::roles::RoleError;

/// What can go wrong routing a statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Discovery failed (bad name, DNS).
    #[error(transparent)]
    Discovery(#[from] headless_discovery::Error),

    /// No primary, several, or no pod fit for the read: the role engine's verdict
    /// ([`RoleError::NoLeader`], [`RoleError::SplitBrain`], [`RoleError::NoReadablePod`]).
    #[error(transparent)]
    Roles(#[from] RoleError),

    /// A pod failed the statement or could not be reached.
    #[error("MySQL pod {pod}: {source}")]
    Pod {
        /// The pod.
        pod: Peer,
        /// The driver's error (never includes the password).
        #[source]
        source: mysql_async::Error,
    },

    /// A pod did not connect or answer in time.
    #[error("MySQL pod {pod}: no {what} within {after:?}")]
    Timeout {
        /// The pod.
        pod: Peer,
        /// What was awaited ("connection", "reply").
        what: &'static str,
        /// The configured bound.
        after: Duration,
    },
}

impl Error {
    /// Whether the same statement may succeed later (a failover in progress, a pod away).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Roles(e) => e.is_transient(),
            Error::Timeout { .. } => true,
            Error::Pod { source, .. } => crate::classify::of(source).reprobe(),
            Error::Discovery(e) => e.is_transient(),
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
