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
/// `"replica_preferred"`, `"any"`, `"lowest_latency"`, `{ "ordinal": 2 }`,
/// `{ "same_zone": "eu-west-1a" }`, `{ "same_node": "node-7" }`, or `"local_zone"` /
/// `"local_node"` for the zone or node in `$DISCOVERY_ZONE` / `$DISCOVERY_NODE`.
///
/// Zones and nodes come from the EndpointSlice source ([`Peer::zone`]); DNS carries none,
/// so under DNS the locality policies always fall back. In a pod, set the variables
/// from the downward API: `DISCOVERY_NODE` from `spec.nodeName`; the zone is a label of
/// the node, which the downward API does not expose, so the deployer sets
/// `DISCOVERY_ZONE` (or reads the node's `topology.kubernetes.io/zone`).
#[derive(Clone, Default, Deserialize)]
#[serde(try_from = "Named")]
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
    /// Fit replicas in this zone; else fit replicas anywhere, else the leader, both as a
    /// visible [fallback](super::Read::fallback).
    SameZone(Arc<str>),
    /// Fit replicas on this node; else as [`SameZone`](Self::SameZone) falls back.
    SameNode(Arc<str>),
    /// Fit pods for which the predicate holds (a zone, a name pattern).
    Custom(Arc<dyn Fn(&Peer) -> bool + Send + Sync>),
}

/// The variable [`ReadPolicy::local_zone`] reads the client's zone from.
pub const ZONE_ENV: &str = "DISCOVERY_ZONE";
/// The variable [`ReadPolicy::local_node`] reads the client's node from.
pub const NODE_ENV: &str = "DISCOVERY_NODE";

impl ReadPolicy {
    /// A custom policy from a predicate over the pods.
    pub fn custom(predicate: impl Fn(&Peer) -> bool + Send + Sync + 'static) -> Self {
        ReadPolicy::Custom(Arc::new(predicate))
    }

    /// Replicas in `zone` first.
    pub fn same_zone(zone: &str) -> Self {
        ReadPolicy::SameZone(zone.into())
    }

    /// Replicas on `node` first.
    pub fn same_node(node: &str) -> Self {
        ReadPolicy::SameNode(node.into())
    }

    /// Whether this is a locality policy (`SameZone`, `SameNode`), which prefers some fit
    /// replicas over the others.
    pub fn is_local(&self) -> bool {
        matches!(self, ReadPolicy::SameZone(_) | ReadPolicy::SameNode(_))
    }

    /// Replicas in the zone named by `$DISCOVERY_ZONE` first.
    ///
    /// # Errors
    ///
    /// [`NoLocality`] if the variable is unset or empty.
    pub fn local_zone() -> Result<Self, NoLocality> {
        from_env(ZONE_ENV).map(ReadPolicy::SameZone)
    }

    /// Replicas on the node named by `$DISCOVERY_NODE` first.
    ///
    /// # Errors
    ///
    /// [`NoLocality`] if the variable is unset or empty.
    pub fn local_node() -> Result<Self, NoLocality> {
        from_env(NODE_ENV).map(ReadPolicy::SameNode)
    }
}

/// A locality policy asked for the client's zone or node, and its variable is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "${variable} is not set; set it to this client's {what} (in a pod: from the downward API or the deployer)"
)]
pub struct NoLocality {
    /// The variable.
    pub variable: &'static str,
    /// `zone` or `node`.
    pub what: &'static str,
}

fn from_env(variable: &'static str) -> Result<Arc<str>, NoLocality> {
    match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().into()),
        _ => Err(NoLocality {
            variable,
            what: if variable == ZONE_ENV { "zone" } else { "node" },
        }),
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
    SameZone(String),
    SameNode(String),
    LocalZone,
    LocalNode,
}

impl TryFrom<Named> for ReadPolicy {
    type Error = NoLocality;

    fn try_from(named: Named) -> Result<Self, NoLocality> {
        Ok(match named {
            Named::Leader => ReadPolicy::Leader,
            Named::LeaderPreferred => ReadPolicy::LeaderPreferred,
            Named::Replica => ReadPolicy::Replica,
            Named::ReplicaPreferred => ReadPolicy::ReplicaPreferred,
            Named::Any => ReadPolicy::Any,
            Named::LowestLatency => ReadPolicy::LowestLatency,
            Named::Ordinal(n) => ReadPolicy::Ordinal(n),
            Named::SameZone(zone) => ReadPolicy::same_zone(&zone),
            Named::SameNode(node) => ReadPolicy::same_node(&node),
            Named::LocalZone => ReadPolicy::local_zone()?,
            Named::LocalNode => ReadPolicy::local_node()?,
        })
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
            ReadPolicy::SameZone(zone) => write!(f, "SameZone({zone})"),
            ReadPolicy::SameNode(node) => write!(f, "SameNode({node})"),
            ReadPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl fmt::Display for ReadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
