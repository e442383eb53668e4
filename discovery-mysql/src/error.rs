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

    /// A pod did not connect or answer in time. For a `"reply"`, the statement was
    /// sent, so whether it was applied is unknown ([`is_outcome_unknown`](Error::is_outcome_unknown)).
    #[error("MySQL pod {pod}: no {what} within {after:?}")]
    Timeout {
        /// The pod.
        pod: Peer,
        /// What was awaited ("connection", "reply", "GTID wait", "ping").
        what: &'static str,
        /// The configured bound.
        after: Duration,
    },

    /// The connection to the pod broke after the statement was sent (EOF, a reset, the
    /// server shutting down under it): it may or may not have been applied, so it was not
    /// sent again. Check (or make the statement idempotent) before sending it yourself.
    #[error(
        "MySQL pod {pod}: the connection failed after the statement was sent, so whether it was applied is unknown (not retried): {source}"
    )]
    OutcomeUnknown {
        /// The pod the statement went to.
        pod: Peer,
        /// The driver's error.
        #[source]
        source: mysql_async::Error,
    },

    /// The connection of a session you hold (a [`PodConnection`](crate::PodConnection)
    /// run through [`run_on`](crate::MySqlRouter::run_on)) was lost, and the statement
    /// applied nothing: the connection was found closed before it was sent (a ping after
    /// the session sat idle), or it broke inside a transaction before the `COMMIT`,
    /// which the server rolls back. The session is gone, with its open transaction and
    /// session state: take a new connection and run the statement again, or the
    /// transaction from its `BEGIN`. (A write to a non-transactional table, MyISAM or
    /// Aria, inside a transaction applies at once and is not rolled back.)
    #[error(
        "MySQL pod {pod}: the session's connection was lost and the statement applied nothing (not sent, or its transaction rolled back); run it again on a new connection: {source}"
    )]
    SessionLost {
        /// The pod the session was on.
        pod: Peer,
        /// The driver's error.
        #[source]
        source: mysql_async::Error,
    },
}

impl Error {
    /// Whether the same statement may succeed later (a failover in progress, a pod away).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Roles(e) => e.is_transient(),
            Error::Timeout { .. } => true,
            Error::Pod { source, .. } => crate::classify::of(source).reprobe(),
            Error::OutcomeUnknown { .. } | Error::SessionLost { .. } => true,
            Error::Discovery(e) => e.is_transient(),
        }
    }

    /// Whether the statement may have been applied although it failed: the connection
    /// broke ([`OutcomeUnknown`](Self::OutcomeUnknown)) or no reply came in time after
    /// it was sent.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            Error::OutcomeUnknown { .. } | Error::Timeout { what: "reply", .. }
        )
    }

    /// The pod the error is about, if any.
    pub fn pod(&self) -> Option<&Peer> {
        match self {
            Error::Pod { pod, .. }
            | Error::Timeout { pod, .. }
            | Error::OutcomeUnknown { pod, .. }
            | Error::SessionLost { pod, .. } => Some(pod),
            Error::Discovery(_) | Error::Roles(_) => None,
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

impl headless_discovery::roles::Resendable for Error {
    /// Not applied and may pass: no primary in time, a refusal (1290, 1836), a pod that
    /// could not be dialled or whose server was gone before the statement was sent.
    /// Never an unknown outcome, never an error about the statement itself (1062…), never
    /// a lost session (its transaction went with it: run it again from its `BEGIN`).
    fn is_resendable(&self) -> bool {
        match self {
            Error::Roles(e) => e.is_transient(),
            Error::Pod { source, .. } => matches!(
                crate::classify::of(source),
                headless_discovery::roles::Verdict::NotLeader
                    | headless_discovery::roles::Verdict::Broken
            ),
            Error::Timeout { what, .. } => *what == "connection",
            Error::OutcomeUnknown { .. } | Error::SessionLost { .. } => false,
            Error::Discovery(e) => e.is_transient(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
