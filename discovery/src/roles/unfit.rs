//! [`Unfit`]: why a pod may not serve a read, as data.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::Role;

/// The state of a replication thread (MySQL's IO and SQL threads), as the server words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ThreadState {
    /// `Yes`: running.
    Running,
    /// `Connecting`: trying to reach its source.
    Connecting,
    /// `No`: stopped.
    Stopped,
    /// Not reported.
    Unknown,
    /// Anything else the server said.
    Other(String),
}

impl ThreadState {
    /// Parses the server's word (`Yes`, `No`, `Connecting`); `None` is [`Unknown`](Self::Unknown).
    pub fn parse(word: Option<&str>) -> Self {
        match word {
            None => ThreadState::Unknown,
            Some(w) if w.eq_ignore_ascii_case("yes") => ThreadState::Running,
            Some(w) if w.eq_ignore_ascii_case("no") => ThreadState::Stopped,
            Some(w) if w.eq_ignore_ascii_case("connecting") => ThreadState::Connecting,
            Some(w) => ThreadState::Other(w.to_owned()),
        }
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        *self == ThreadState::Running
    }
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadState::Running => f.write_str("running"),
            ThreadState::Connecting => f.write_str("connecting"),
            ThreadState::Stopped => f.write_str("stopped"),
            ThreadState::Unknown => f.write_str("unknown"),
            ThreadState::Other(word) => f.write_str(word),
        }
    }
}

/// Why a pod may not serve a read. Kept as data and worded only when shown: the read
/// path judges every pod on every read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unfit {
    /// It did not answer its probe.
    NoAnswer {
        /// What the probe met.
        error: String,
    },
    /// It is loading its dataset and answers nothing else yet (Redis `LOADING`).
    Loading,
    /// It is not a replica (reads for replicas only), or neither leader nor replica.
    Role {
        /// What it is.
        role: Role,
    },
    /// Its link to its leader is down (Redis `master_link_status:down`).
    LinkDown,
    /// Its replication threads do not both run.
    NotReplicating {
        /// The IO (receiving) thread.
        io: ThreadState,
        /// The SQL (applying) thread.
        sql: ThreadState,
        /// The last error either reported.
        last_error: Option<String>,
    },
    /// It follows a pod other than the leader.
    FollowsAnother,
    /// It does not say how far behind it is (MySQL `Seconds_Behind_Source` NULL).
    LagUnknown,
    /// It is further behind than `max_lag`.
    Behind {
        /// How far.
        lag: Duration,
        /// The limit.
        max: Duration,
    },
    /// Its pod is terminating ([`Peer::is_draining`](crate::Peer::is_draining)): what is
    /// in flight there may finish, new reads go elsewhere.
    Draining,
    /// It is more bytes behind than `max_lag_bytes`.
    BehindBytes {
        /// How many.
        lag: u64,
        /// The limit.
        max: u64,
    },
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::NoAnswer { error } => write!(f, "did not answer ({error})"),
            Unfit::Loading => f.write_str("is loading its dataset"),
            Unfit::Role { role } => write!(f, "is {role}"),
            Unfit::LinkDown => f.write_str("has its link to the leader down"),
            Unfit::NotReplicating {
                io,
                sql,
                last_error,
            } => {
                write!(f, "is not replicating (IO {io}, SQL {sql}")?;
                match last_error {
                    Some(e) => write!(f, ": {e})"),
                    None => f.write_str(")"),
                }
            }
            Unfit::FollowsAnother => f.write_str("follows a pod other than the leader"),
            Unfit::LagUnknown => f.write_str("does not report its lag"),
            Unfit::Behind { lag, max } => {
                write!(f, "is {} s behind (max {max:?})", lag.as_secs())
            }
            Unfit::BehindBytes { lag, max } => write!(f, "is {lag} bytes behind (max {max})"),
            Unfit::Draining => f.write_str("is terminating (draining)"),
        }
    }
}
