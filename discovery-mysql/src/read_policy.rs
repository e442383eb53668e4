//! [`ReadPolicy`]: which pods may serve a read.

use std::fmt;
use std::sync::Arc;

use crate::topology::PodStatus;

/// Where reads go. Writes always go to the primary.
///
/// Replicas that are down, not replicating (a thread stopped), lagging beyond
/// `max_replica_lag` (or with an unknown lag), or following another primary are never
/// candidates. Among fit replicas, reads are balanced (power of two choices over PeakEwma).
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ReadPolicy {
    /// The primary only.
    Primary,
    /// The primary; a fit replica if there is no primary.
    PrimaryPreferred,
    /// Fit replicas only; an error if there is none.
    Replica,
    /// Fit replicas; the primary if there is none (the default).
    #[default]
    ReplicaPreferred,
    /// The fit pod (primary or replica) with the lowest probe latency.
    LowestLatency,
    /// The pod with this ordinal, if it is the primary or a fit replica.
    Ordinal(u32),
    /// Fit pods (primary or replicas) for which the predicate holds (a zone, a name).
    Custom(Arc<dyn Fn(&PodStatus) -> bool + Send + Sync>),
}

impl ReadPolicy {
    /// A custom policy from a predicate over the pods' status.
    pub fn custom(predicate: impl Fn(&PodStatus) -> bool + Send + Sync + 'static) -> Self {
        ReadPolicy::Custom(Arc::new(predicate))
    }
}

impl fmt::Debug for ReadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadPolicy::Primary => f.write_str("Primary"),
            ReadPolicy::PrimaryPreferred => f.write_str("PrimaryPreferred"),
            ReadPolicy::Replica => f.write_str("Replica"),
            ReadPolicy::ReplicaPreferred => f.write_str("ReplicaPreferred"),
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
