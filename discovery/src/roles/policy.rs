//! [`ReadPolicy`]: which pods may serve a read.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::Peer;

/// Where reads go; writes always go to the leader. One policy type for every store.
///
/// Only fit pods are candidates: a replica that is down, loading, not replicating,
/// following another pod or lagging beyond the configured limits never is (see
/// [`Unfit`](super::Unfit)). A read that lands somewhere other than where its policy
/// prefers says so ([`Read::fallback`](super::Read::fallback)).
///
/// In a config file: `"leader"`, `"leader_preferred"`, `"replica"`,
/// `"replica_preferred"`, `"any"`, `"lowest_latency"` or `{ "ordinal": 2 }`.
#[derive(Clone, Default, Deserialize)]
#[serde(from = "Named")]
#[non_exhaustive]
pub enum ReadPolicy {
    /// The leader only.
    Leader,
    /// The leader; a fit replica if there is no leader.
    LeaderPreferred,
    /// Fit replicas only; an error if there is none.
    Replica,
    /// Fit replicas; the leader if there is none (the default: reads leave the leader
    /// alone while a replica can serve them).
    #[default]
    ReplicaPreferred,
    /// Any fit pod, leader or replica.
    Any,
    /// The fit pod with the lowest probe latency.
    LowestLatency,
    /// The pod with this ordinal, if it is the leader or a fit replica.
    Ordinal(u32),
    /// Fit pods for which the predicate holds (a zone, a name pattern).
    Custom(Arc<dyn Fn(&Peer) -> bool + Send + Sync>),
}

impl ReadPolicy {
    /// A custom policy from a predicate over the pods.
    pub fn custom(predicate: impl Fn(&Peer) -> bool + Send + Sync + 'static) -> Self {
        ReadPolicy::Custom(Arc::new(predicate))
    }
}

/// The policies a config file can name.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Named {
    Leader,
    LeaderPreferred,
    Replica,
    ReplicaPreferred,
    Any,
    LowestLatency,
    Ordinal(u32),
}

impl From<Named> for ReadPolicy {
    fn from(named: Named) -> Self {
        match named {
            Named::Leader => ReadPolicy::Leader,
            Named::LeaderPreferred => ReadPolicy::LeaderPreferred,
            Named::Replica => ReadPolicy::Replica,
            Named::ReplicaPreferred => ReadPolicy::ReplicaPreferred,
            Named::Any => ReadPolicy::Any,
            Named::LowestLatency => ReadPolicy::LowestLatency,
            Named::Ordinal(n) => ReadPolicy::Ordinal(n),
        }
    }
}

impl fmt::Debug for ReadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadPolicy::Leader => f.write_str("Leader"),
            ReadPolicy::LeaderPreferred => f.write_str("LeaderPreferred"),
            ReadPolicy::Replica => f.write_str("Replica"),
            ReadPolicy::ReplicaPreferred => f.write_str("ReplicaPreferred"),
            ReadPolicy::Any => f.write_str("Any"),
            ReadPolicy::LowestLatency => f.write_str("LowestLatency"),
            ReadPolicy::Ordinal(n) => write!(f, "Ordinal({n})"),
            ReadPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl fmt::Display for ReadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
