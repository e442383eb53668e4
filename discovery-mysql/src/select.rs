//! Which pods may serve reads, and where a [`ReadPolicy`] sends one.

use discovery::Peer;

use crate::config::MySqlConfig;
use crate::read_policy::ReadPolicy;
use crate::report::Role;
use crate::topology::{PodStatus, Topology};

/// Why a replica may not serve reads, or `None` if it may.
fn unfit_replica(pod: &PodStatus, topology: &Topology, config: &MySqlConfig) -> Option<String> {
    let name = pod.peer.hostname();
    let Some(report) = &pod.report else {
        return Some(format!(
            "{name} did not answer ({})",
            pod.error.as_deref().unwrap_or("no reply")
        ));
    };
    let role = report.role();
    if role != Role::Replica {
        return Some(format!("{name} is {role}"));
    }
    let replication = report.replication.as_ref()?;
    if !replication.threads_running() {
        return Some(format!(
            "{name} is not replicating (IO {}, SQL {}{})",
            replication.io_running.as_deref().unwrap_or("?"),
            replication.sql_running.as_deref().unwrap_or("?"),
            replication
                .last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    if let Some(primary) = topology.primary()
        && !pod.follows(&primary.peer)
    {
        return Some(format!("{name} follows another primary"));
    }
    match pod.lag() {
        None => Some(format!("{name}'s lag is unknown (NULL)")),
        Some(lag) if lag > config.max_replica_lag => Some(format!(
            "{name} is {} s behind (max {:?})",
            lag.as_secs(),
            config.max_replica_lag
        )),
        Some(_) => None,
    }
}

/// The replicas that may serve reads, and why each other pod may not.
pub(crate) fn replicas<'a>(
    topology: &'a Topology,
    config: &MySqlConfig,
) -> (Vec<&'a PodStatus>, Vec<String>) {
    let mut fit = Vec::new();
    let mut why = Vec::new();
    for pod in &topology.pods {
        match unfit_replica(pod, topology, config) {
            None => fit.push(pod),
            Some(reason) => why.push(reason),
        }
    }
    (fit, why)
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
    let (replicas, mut why) = replicas(topology, config);
    let primary = topology.primary();
    if primary.is_none() {
        why.push(format!("no primary ({:?})", topology.primary));
    }
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
        if why.is_empty() {
            "no pod matches".to_owned()
        } else {
            why.join("; ")
        }
    })
}
