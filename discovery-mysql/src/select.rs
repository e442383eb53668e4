//! Which pods may serve reads, and where a [`ReadPolicy`] sends one.

use std::fmt;
use std::time::Duration;

use discovery::Peer;

use crate::config::MySqlConfig;
use crate::read_policy::ReadPolicy;
use crate::report::{Replication, Role};
use crate::topology::{PodStatus, Topology};

/// Why a pod may not serve replica reads. Kept as data and worded only when an error
/// needs it: the read path checks every pod on every read.
enum Unfit<'a> {
    NoAnswer(&'a PodStatus),
    NotReplica(&'a PodStatus, Role),
    NotReplicating(&'a PodStatus, &'a Replication),
    FollowsAnother(&'a PodStatus),
    LagUnknown(&'a PodStatus),
    Lagging(&'a PodStatus, Duration, Duration),
}

impl fmt::Display for Unfit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::NoAnswer(pod) => write!(
                f,
                "{} did not answer ({})",
                pod.peer.hostname(),
                pod.error.as_deref().unwrap_or("no reply")
            ),
            Unfit::NotReplica(pod, role) => write!(f, "{} is {role}", pod.peer.hostname()),
            Unfit::NotReplicating(pod, r) => {
                write!(
                    f,
                    "{} is not replicating (IO {}, SQL {}",
                    pod.peer.hostname(),
                    r.io_running.as_deref().unwrap_or("?"),
                    r.sql_running.as_deref().unwrap_or("?")
                )?;
                match &r.last_error {
                    Some(e) => write!(f, ": {e})"),
                    None => f.write_str(")"),
                }
            }
            Unfit::FollowsAnother(pod) => {
                write!(f, "{} follows another primary", pod.peer.hostname())
            }
            Unfit::LagUnknown(pod) => write!(f, "{}'s lag is unknown (NULL)", pod.peer.hostname()),
            Unfit::Lagging(pod, lag, max) => write!(
                f,
                "{} is {} s behind (max {max:?})",
                pod.peer.hostname(),
                lag.as_secs()
            ),
        }
    }
}

/// Why a replica may not serve reads, or `None` if it may.
fn unfit_replica<'a>(
    pod: &'a PodStatus,
    topology: &Topology,
    config: &MySqlConfig,
) -> Option<Unfit<'a>> {
    let Some(report) = &pod.report else {
        return Some(Unfit::NoAnswer(pod));
    };
    let role = report.role();
    if role != Role::Replica {
        return Some(Unfit::NotReplica(pod, role));
    }
    let replication = report.replication.as_ref()?;
    if !replication.threads_running() {
        return Some(Unfit::NotReplicating(pod, replication));
    }
    if let Some(primary) = topology.primary()
        && !pod.follows(&primary.peer)
    {
        return Some(Unfit::FollowsAnother(pod));
    }
    match pod.lag() {
        None => Some(Unfit::LagUnknown(pod)),
        Some(lag) if lag > config.max_replica_lag => {
            Some(Unfit::Lagging(pod, lag, config.max_replica_lag))
        }
        Some(_) => None,
    }
}

/// The replicas that may serve reads.
pub(crate) fn fit_replicas<'a>(topology: &'a Topology, config: &MySqlConfig) -> Vec<&'a PodStatus> {
    topology
        .pods
        .iter()
        .filter(|pod| unfit_replica(pod, topology, config).is_none())
        .collect()
}

/// Why each pod that may not serve replica reads may not.
pub(crate) fn unfit_reasons(topology: &Topology, config: &MySqlConfig) -> Vec<String> {
    topology
        .pods
        .iter()
        .filter_map(|pod| unfit_replica(pod, topology, config).map(|why| why.to_string()))
        .collect()
}

/// Where a read goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// This pod.
    Pod(Peer),
    /// The fit replicas, balanced.
    Replicas,
    /// The primary because no replica is fit (`ReplicaPreferred`).
    Fallback(Peer),
}

/// The target of a read under `policy`, or why there is none.
pub(crate) fn pick(
    topology: &Topology,
    policy: &ReadPolicy,
    config: &MySqlConfig,
) -> Result<Target, String> {
    let replicas = fit_replicas(topology, config);
    let primary = topology.primary();
    let fit = || primary.into_iter().chain(replicas.iter().copied());
    let pod = |p: &PodStatus| Target::Pod(p.peer.clone());
    let chosen = match policy {
        ReadPolicy::Primary => primary.map(pod),
        ReadPolicy::PrimaryPreferred => primary
            .map(pod)
            .or((!replicas.is_empty()).then_some(Target::Replicas)),
        ReadPolicy::Replica => (!replicas.is_empty()).then_some(Target::Replicas),
        ReadPolicy::ReplicaPreferred => {
            if replicas.is_empty() {
                primary.map(|p| Target::Fallback(p.peer.clone()))
            } else {
                Some(Target::Replicas)
            }
        }
        ReadPolicy::LowestLatency => fit()
            .filter(|p| p.latency.is_some())
            .min_by_key(|p| p.latency)
            .map(pod),
        ReadPolicy::Ordinal(n) => fit().find(|p| p.peer.ordinal() == Some(*n)).map(pod),
        ReadPolicy::Custom(predicate) => {
            let matching: Vec<&PodStatus> = fit().filter(|p| predicate(p)).collect();
            match matching.len() {
                0 => None,
                n => Some(pod(matching[rand::random_range(0..n)])),
            }
        }
    };
    chosen.ok_or_else(|| {
        let mut why = unfit_reasons(topology, config);
        if primary.is_none() {
            why.push(format!("no primary ({:?})", topology.primary));
        }
        if why.is_empty() {
            "no pod matches".to_owned()
        } else {
            why.join("; ")
        }
    })
}
