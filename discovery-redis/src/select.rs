//! Picking a pod for a read, per [`ReadFrom`], among the pods fit to serve it.

use crate::config::RedisConfig;
use crate::read_from::ReadFrom;
use crate::role::Role;
use crate::topology::{PodStatus, Topology};

/// Why a replica may not serve reads, or `None` if it may.
fn unfit_replica(pod: &PodStatus, topology: &Topology, config: &RedisConfig) -> Option<String> {
    let name = pod.peer.hostname();
    let report = match &pod.report {
        None => {
            return Some(format!(
                "{name} did not answer ({})",
                pod.error.as_deref().unwrap_or("no reply")
            ));
        }
        Some(r) if r.loading => return Some(format!("{name} is loading its dataset")),
        Some(r) => r,
    };
    if report.role != Role::Replica {
        return Some(format!("{name} is a {}", report.role));
    }
    if report.link_up == Some(false) {
        return Some(format!("{name}'s link to its master is down"));
    }
    if let Some(master) = topology.master()
        && !crate::topology::announces(
            report.master_host.as_deref(),
            report.master_port,
            &master.peer,
        )
    {
        return Some(format!("{name} follows another master"));
    }
    if let (Some(max), Some(lag)) = (config.max_lag_bytes, pod.lag_bytes)
        && lag > max
    {
        return Some(format!("{name} is {lag} bytes behind (max {max})"));
    }
    if let (Some(max), Some(lag)) = (config.max_lag, pod.lag_seconds)
        && lag > max.as_secs()
    {
        return Some(format!(
            "{name} last heard from its master {lag} s ago (max {max:?})"
        ));
    }
    None
}

/// The replicas that may serve reads, and why each other pod may not.
pub(crate) fn replicas<'a>(
    topology: &'a Topology,
    config: &RedisConfig,
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

/// The pod to read from, or why there is none.
pub(crate) fn pick<'a>(
    topology: &'a Topology,
    read_from: &ReadFrom,
    config: &RedisConfig,
) -> Result<&'a PodStatus, String> {
    let (replicas, mut why) = replicas(topology, config);
    let master = topology.master().filter(|m| m.is_up());
    if master.is_none() {
        why.push(format!("no master ({:?})", topology.master));
    }
    let healthy = || master.into_iter().chain(replicas.iter().copied());
    let chosen = match read_from {
        ReadFrom::Master => master,
        ReadFrom::MasterPreferred => master.or_else(|| any_of(&replicas)),
        ReadFrom::Replica => any_of(&replicas),
        ReadFrom::ReplicaPreferred => any_of(&replicas).or(master),
        ReadFrom::Any => any_of(&healthy().collect::<Vec<_>>()),
        ReadFrom::LowestLatency => healthy().min_by_key(|p| p.latency),
        ReadFrom::Ordinal(n) => healthy().find(|p| p.peer.ordinal() == Some(*n)),
        ReadFrom::Custom(predicate) => {
            any_of(&healthy().filter(|p| predicate(p)).collect::<Vec<_>>())
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

/// One at random: reads spread evenly over the fit pods. (Probe latencies on one network
/// differ by noise; steering on them would pile reads on one pod. `LowestLatency` is the
/// explicit choice, and the balanced tower service weighs real request latency.)
fn any_of<'a>(pods: &[&'a PodStatus]) -> Option<&'a PodStatus> {
    match pods.len() {
        0 => None,
        n => Some(pods[rand::random_range(0..n)]),
    }
}
