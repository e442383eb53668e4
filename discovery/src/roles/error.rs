//! [`RoleError`]: what the engine refuses, the same for every store.

use std::fmt;
use std::time::Duration;

use super::{LeaderChoice, ReadPolicy, Unfit};
use crate::{Health, PeerKey};

/// Why a request could not be placed on a pod. Each store's error carries it as its
/// `Roles` variant.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// No pod says it leads, and none did within `failover_wait`.
    #[error(
        "no leader among the pods of `{service}` after waiting {waited:?} ({pods} pods probed); a failover may be in progress"
    )]
    NoLeader {
        /// The Service.
        service: String,
        /// How long the request waited.
        waited: Duration,
        /// How many pods were probed.
        pods: usize,
    },

    /// Discovery lists no pod at all: the Service has no ready pod, or does not exist (a
    /// wrong name or namespace). Requests fail at once rather than wait for a failover
    /// that is not happening.
    #[error(
        "no pod of `{service}` is discovered (DNS: {health}): the Service has no ready pod, or no such Service exists; check its name and namespace"
    )]
    NoPods {
        /// The Service.
        service: String,
        /// What the discovery watch says of DNS.
        health: Health,
    },

    /// Every pod of the Service rejects this client: its certificate did not verify, or
    /// the credentials were refused ([`Verdict::Rejected`](super::Verdict::Rejected)).
    /// Requests fail at once: waiting for a failover would not help.
    #[error(
        "every pod of `{service}` rejects this client: {}; check the credentials and the TLS settings (CA, and a certificate naming each pod's FQDN)",
        Reasons(pods)
    )]
    Rejected {
        /// The Service.
        service: String,
        /// Each pod and why its probe was rejected.
        pods: Vec<(PeerKey, String)>,
    },

    /// Several pods claim to lead and their followers did not tell which is right
    /// within `failover_wait`: the request is refused rather than sent to two leaders.
    /// (A split that settles in time, an old leader fenced or rejoined, a replica
    /// repointed, is waited out like a failover.)
    #[error(
        "several pods of `{service}` claim to lead ({}) and their followers did not settle it within {waited:?}; writes are refused until one remains (or set `tie_break_ordinal`)",
        Keys(claimants)
    )]
    SplitBrain {
        /// The Service.
        service: String,
        /// The pods that claim it, at the end of the wait.
        claimants: Vec<PeerKey>,
        /// How long the request waited for it to settle.
        waited: Duration,
    },

    /// No pod fits the read policy (no fit replica for [`ReadPolicy::Replica`], say).
    #[error(
        "no pod of `{service}` can serve reads with {policy}: {}; {leader}",
        Why(reasons)
    )]
    NoReadablePod {
        /// The Service.
        service: String,
        /// The policy.
        policy: ReadPolicy,
        /// Why each pod was left out.
        reasons: Vec<(PeerKey, Unfit)>,
        /// Whom the engine took as leader.
        leader: LeaderChoice,
    },

    /// The engine's prober is gone (the handle is shutting down).
    #[error("the role watch for `{service}` has stopped")]
    Stopped {
        /// The Service.
        service: String,
    },
}

impl RoleError {
    /// Whether the same request may succeed later (a failover in progress, a pod away).
    pub fn is_transient(&self) -> bool {
        !matches!(self, RoleError::Stopped { .. } | RoleError::Rejected { .. })
    }
}

/// Keys by their pod's hostname, comma-separated.
struct Keys<'a>(&'a [PeerKey]);

impl fmt::Display for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(hostname(key))?;
        }
        Ok(())
    }
}

/// Reasons as `pod reason; pod reason`.
struct Why<'a>(&'a [(PeerKey, Unfit)]);

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no pod matches");
        }
        for (i, (key, unfit)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} {unfit}", hostname(key))?;
        }
        Ok(())
    }
}

/// Probe errors, which name their pod, as `error; error`.
struct Reasons<'a>(&'a [(PeerKey, String)]);

impl fmt::Display for Reasons<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (_, error)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(error)?;
        }
        Ok(())
    }
}

fn hostname(key: &PeerKey) -> &str {
    key.as_str().split('.').next().unwrap_or(key.as_str())
}
