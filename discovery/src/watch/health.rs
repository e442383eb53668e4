//! [`Health`]: whether a watch's view of its source is current.

use std::time::Instant;

use crate::config::Source;
use crate::error::SharedError;

/// How a watch is doing, as callers can read and subscribe to it
/// ([`Watch::health`](crate::Watch::health), [`Watch::health_changes`](crate::Watch::health_changes)).
///
/// A degraded watch still serves its last known good peers: DNS or API trouble never
/// tears peers down. Only an authoritative NXDOMAIN, or an empty slice list, empties the
/// set (after `empty_grace`).
///
/// It names the source that answered or failed ([`source`](Self::source)), DNS or the
/// Kubernetes API; [`Watch::source`](crate::Watch::source) says why that one is in use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Health {
    /// The first resolution has not finished yet (a lazily started watch).
    Starting,
    /// The last resolution got an answer.
    #[non_exhaustive]
    Healthy {
        /// The source that answered.
        source: Source,
        /// When that answer came.
        last_success: Instant,
        /// Records dropped so far because they named no pod of this Service.
        rejected: u64,
    },
    /// Resolutions have been failing, or answers contradict themselves; the peers are
    /// those of the last good answer.
    #[non_exhaustive]
    Degraded {
        /// The source that is failing.
        source: Source,
        /// When the first failure of this run happened.
        since: Instant,
        /// How many resolutions failed in a row.
        failures: u32,
        /// The latest failure.
        error: SharedError,
        /// When the source last answered, if ever.
        last_success: Option<Instant>,
        /// Records dropped so far because they named no pod of this Service.
        rejected: u64,
    },
}

impl Health {
    /// Whether the last resolution succeeded.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy { .. })
    }

    /// Whether resolutions are failing.
    pub fn is_degraded(&self) -> bool {
        matches!(self, Health::Degraded { .. })
    }

    /// The source that answered or is failing (`None` while starting).
    pub fn source(&self) -> Option<Source> {
        match self {
            Health::Starting => None,
            Health::Healthy { source, .. } | Health::Degraded { source, .. } => Some(*source),
        }
    }

    /// The latest failure, when degraded.
    pub fn error(&self) -> Option<&SharedError> {
        match self {
            Health::Degraded { error, .. } => Some(error),
            _ => None,
        }
    }

    /// When the source last answered.
    pub fn last_success(&self) -> Option<Instant> {
        match self {
            Health::Starting => None,
            Health::Healthy { last_success, .. } => Some(*last_success),
            Health::Degraded { last_success, .. } => *last_success,
        }
    }

    /// How many records answers have carried that named no pod of this Service (another
    /// namespace or zone, a bad label, SRV target `.` or port 0, an address no pod can
    /// have). They are dropped, never dialled; a count above zero means the DNS server
    /// is broken or lying.
    pub fn rejected(&self) -> u64 {
        match self {
            Health::Starting => 0,
            Health::Healthy { rejected, .. } | Health::Degraded { rejected, .. } => *rejected,
        }
    }

    /// Whether `self` and `other` say the same thing to someone following health: the
    /// same variant and source and, when degraded, the same streak failing for the same
    /// reason.
    /// Timestamps and counts do not count, so a subscriber is woken for news only.
    pub(crate) fn same_state(&self, other: &Health) -> bool {
        match (self, other) {
            (Health::Starting, Health::Starting) => true,
            (Health::Healthy { source: a, .. }, Health::Healthy { source: b, .. }) => a == b,
            (
                Health::Degraded {
                    source: s,
                    since: a,
                    error: x,
                    ..
                },
                Health::Degraded {
                    source: t,
                    since: b,
                    error: y,
                    ..
                },
            ) => s == t && a == b && x.to_string() == y.to_string(),
            _ => false,
        }
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Starting => f.write_str("starting"),
            Health::Healthy { source, .. } => write!(f, "healthy ({source})"),
            Health::Degraded {
                source,
                failures,
                error,
                ..
            } => {
                write!(
                    f,
                    "degraded ({source}: {failures} failures in a row, last: {error})"
                )
            }
        }
    }
}
