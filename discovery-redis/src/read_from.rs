//! [`ReadFrom`]: which pods may serve a read.

use std::fmt;
use std::sync::Arc;

use crate::topology::PodStatus;

/// Where reads go. Writes always go to the master.
///
/// Replicas that are down, loading, disconnected from their master, or lagging beyond
/// `max_lag_bytes`/`max_lag` are never candidates.
#[derive(Clone)]
#[non_exhaustive]
pub enum ReadFrom {
    /// The master only.
    Master,
    /// The master; a replica if there is no master.
    MasterPreferred,
    /// Replicas only; an error if none is healthy.
    Replica,
    /// Replicas; the master if none is healthy.
    ReplicaPreferred,
    /// Any healthy pod, master or replica.
    Any,
    /// The healthy pod with the lowest probe latency.
    LowestLatency,
    /// The pod with this ordinal, if it is healthy (whatever its role).
    Ordinal(u32),
    /// Healthy pods for which the predicate holds (a zone, a name pattern).
    Custom(Arc<dyn Fn(&PodStatus) -> bool + Send + Sync>),
}

impl ReadFrom {
    /// A custom policy from a predicate over the pods' status.
    pub fn custom(predicate: impl Fn(&PodStatus) -> bool + Send + Sync + 'static) -> Self {
        ReadFrom::Custom(Arc::new(predicate))
    }
}

impl Default for ReadFrom {
    /// `ReplicaPreferred`: reads leave the master alone while a replica can serve them.
    fn default() -> Self {
        ReadFrom::ReplicaPreferred
    }
}

impl fmt::Debug for ReadFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadFrom::Master => f.write_str("Master"),
            ReadFrom::MasterPreferred => f.write_str("MasterPreferred"),
            ReadFrom::Replica => f.write_str("Replica"),
            ReadFrom::ReplicaPreferred => f.write_str("ReplicaPreferred"),
            ReadFrom::Any => f.write_str("Any"),
            ReadFrom::LowestLatency => f.write_str("LowestLatency"),
            ReadFrom::Ordinal(n) => write!(f, "Ordinal({n})"),
            ReadFrom::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl fmt::Display for ReadFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
