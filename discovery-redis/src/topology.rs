//! The observed topology: every pod's role and health, and which pod is the master.

use std::time::{Duration, Instant};

use discovery::{Peer, PeerKey};
use serde::Serialize;

use crate::role::{Role, RoleReport};

/// One pod as the last probe round saw it.
#[derive(Debug, Clone, Serialize)]
pub struct PodStatus {
    /// The pod, from discovery.
    #[serde(flatten)]
    pub peer: Peer,
    /// What it reported, if it answered.
    pub report: Option<RoleReport>,
    /// Why it did not answer.
    pub error: Option<String>,
    /// How long the probe took (a round trip and a little parsing).
    #[serde(with = "optional_micros", rename = "latency_us")]
    pub latency: Option<Duration>,
    /// Bytes of replication stream this replica is behind its master.
    pub lag_bytes: Option<u64>,
    /// Seconds since this replica last heard from (or acknowledged to) its master.
    pub lag_seconds: Option<u64>,
}

impl PodStatus {
    /// The reported role, if it answered.
    pub fn role(&self) -> Option<Role> {
        self.report.as_ref().map(|r| r.role)
    }

    /// Whether it answered its probe and is not loading.
    pub fn is_up(&self) -> bool {
        self.report.as_ref().is_some_and(|r| !r.loading)
    }

    /// Whether its link to the master is up (replicas only).
    pub fn link_up(&self) -> Option<bool> {
        self.report.as_ref().and_then(|r| r.link_up)
    }
}

/// Who the client takes as master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "pods", rename_all = "snake_case")]
pub enum MasterChoice {
    /// This pod.
    One(PeerKey),
    /// No pod says it is master (a failover in progress, or all masters down).
    None,
    /// Several pods say so and the replicas do not settle it (split brain).
    Ambiguous(Vec<PeerKey>),
}

/// One probe round's view of the StatefulSet.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// Every discovered pod, in discovery's order (ordinal, then name).
    pub pods: Vec<PodStatus>,
    /// The master the client writes to.
    pub master: MasterChoice,
    /// When the round finished.
    #[serde(skip)]
    pub probed_at: Instant,
    /// How long the round took, all pods probed at once.
    #[serde(serialize_with = "micros", rename = "round_us")]
    pub round: Duration,
}

impl Topology {
    /// An empty topology, before the first round.
    pub(crate) fn empty() -> Self {
        Self {
            pods: Vec::new(),
            master: MasterChoice::None,
            probed_at: Instant::now(),
            round: Duration::ZERO,
        }
    }

    /// Builds the topology from the pods' reports: lag figures and the master choice.
    pub(crate) fn new(
        mut pods: Vec<PodStatus>,
        tie_break_ordinal: Option<u32>,
        round: Duration,
    ) -> Self {
        let master = choose_master(&pods, tie_break_ordinal);
        if let MasterChoice::One(key) = &master {
            fill_lag(&mut pods, key);
        }
        Self {
            pods,
            master,
            probed_at: Instant::now(),
            round,
        }
    }

    /// The master pod, when there is exactly one.
    pub fn master(&self) -> Option<&PodStatus> {
        match &self.master {
            MasterChoice::One(key) => self.pod(key),
            _ => None,
        }
    }

    /// The pod with this key.
    pub fn pod(&self, key: &PeerKey) -> Option<&PodStatus> {
        self.pods.iter().find(|p| p.peer.fqdn() == key.as_str())
    }

    /// The pod with this StatefulSet ordinal (`redis-2` is 2), whatever its role.
    pub fn by_ordinal(&self, ordinal: u32) -> Option<&PodStatus> {
        self.pods.iter().find(|p| p.peer.ordinal() == Some(ordinal))
    }
}

/// Exactly one master → it. None → none. Several → the one every following replica
/// follows, if only one of them has followers; else the tie-break ordinal if it is among
/// them; else ambiguous. The ordinal never decides otherwise: after a failover, pod 0 is
/// often a replica.
pub(crate) fn choose_master(pods: &[PodStatus], tie_break_ordinal: Option<u32>) -> MasterChoice {
    let masters: Vec<&PodStatus> = pods
        .iter()
        .filter(|p| p.is_up() && p.role() == Some(Role::Master))
        .collect();
    match masters.as_slice() {
        [] => return MasterChoice::None,
        [one] => return MasterChoice::One(one.peer.key()),
        _ => {}
    }
    let followed: Vec<&PodStatus> = masters
        .iter()
        .copied()
        .filter(|master| {
            pods.iter().any(|p| {
                p.role() == Some(Role::Replica)
                    && p.report.as_ref().is_some_and(|r| {
                        announces(r.master_host.as_deref(), r.master_port, &master.peer)
                    })
            })
        })
        .collect();
    if let [one] = followed.as_slice() {
        return MasterChoice::One(one.peer.key());
    }
    if let Some(preferred) = tie_break_ordinal {
        let tied = if followed.is_empty() {
            &masters
        } else {
            &followed
        };
        if let Some(master) = tied.iter().find(|m| m.peer.ordinal() == Some(preferred)) {
            return MasterChoice::One(master.peer.key());
        }
    }
    MasterChoice::Ambiguous(masters.iter().map(|m| m.peer.key()).collect())
}

/// Whether `host:port`, as a server announced it, names `peer`: by IP, FQDN or hostname.
/// Announced addresses are only ever matched against discovered pods, never dialled.
pub(crate) fn announces(host: Option<&str>, port: Option<u16>, peer: &Peer) -> bool {
    let Some(host) = host else {
        return false;
    };
    if port.is_some_and(|p| p != peer.port()) {
        return false;
    }
    peer.is_named(host)
}

/// Lag of each replica following `master`: bytes behind its offset, and seconds since
/// the last acknowledgement the master saw (or since the replica last heard from it).
fn fill_lag(pods: &mut [PodStatus], master: &PeerKey) {
    let Some(master_pod) = pods.iter().find(|p| &p.peer.key() == master) else {
        return;
    };
    let Some(master_report) = master_pod.report.clone() else {
        return;
    };
    let master_peer = master_pod.peer.clone();
    for pod in pods.iter_mut() {
        let Some(report) = &pod.report else { continue };
        if report.role != Role::Replica
            || !announces(
                report.master_host.as_deref(),
                report.master_port,
                &master_peer,
            )
        {
            continue;
        }
        pod.lag_bytes = match (master_report.offset, report.offset) {
            (Some(m), Some(r)) => Some(m.saturating_sub(r)),
            _ => None,
        };
        let acknowledged = master_report
            .replicas
            .iter()
            .find(|a| announces(Some(&a.host), Some(a.port), &pod.peer))
            .and_then(|a| a.lag_seconds);
        pod.lag_seconds = acknowledged.or(report.last_io_seconds);
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

mod optional_micros {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_micros() as u64)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: u32, role: Option<Role>, follows: Option<u32>) -> PodStatus {
        let peer = Peer::new(
            &format!("redis-{ordinal}.redis.default.svc.cluster.local"),
            (std::net::Ipv4Addr::new(10, 0, 0, ordinal as u8 + 1), 6379).into(),
        );
        PodStatus {
            peer,
            report: role.map(|role| RoleReport {
                role,
                offset: Some(100),
                master_host: follows.map(|m| format!("10.0.0.{}", m + 1)),
                master_port: follows.map(|_| 6379),
                link_up: follows.map(|_| true),
                last_io_seconds: None,
                replicas: Vec::new(),
                loading: false,
            }),
            error: None,
            latency: None,
            lag_bytes: None,
            lag_seconds: None,
        }
    }

    fn key(ordinal: u32) -> PeerKey {
        pod(ordinal, None, None).peer.key()
    }

    #[test]
    fn pods_are_found_by_ordinal_whatever_their_role() {
        let topology = Topology::new(
            vec![
                pod(0, Some(Role::Replica), Some(2)),
                pod(2, Some(Role::Master), None),
            ],
            None,
            Duration::ZERO,
        );
        assert_eq!(topology.by_ordinal(2).map(|p| p.peer.key()), Some(key(2)));
        assert_eq!(topology.by_ordinal(0).map(|p| p.peer.key()), Some(key(0)));
        assert!(topology.by_ordinal(1).is_none());
    }

    #[test]
    fn one_master_wherever_it_is() {
        let pods = [
            pod(0, Some(Role::Replica), Some(2)),
            pod(1, Some(Role::Replica), Some(2)),
            pod(2, Some(Role::Master), None),
        ];
        assert_eq!(choose_master(&pods, None), MasterChoice::One(key(2)));
    }

    #[test]
    fn no_master_and_unanswered_probes() {
        let pods = [pod(0, None, None), pod(1, Some(Role::Replica), Some(0))];
        assert_eq!(
            choose_master(&pods, Some(0)),
            MasterChoice::None,
            "the ordinal never makes a master"
        );
    }

    #[test]
    fn split_brain_goes_to_the_master_the_replicas_follow() {
        let pods = [
            pod(0, Some(Role::Master), None),
            pod(1, Some(Role::Master), None),
            pod(2, Some(Role::Replica), Some(1)),
        ];
        assert_eq!(choose_master(&pods, Some(0)), MasterChoice::One(key(1)));
    }

    #[test]
    fn split_brain_without_a_verdict_is_ambiguous_unless_a_tie_break_is_set() {
        let pods = [
            pod(0, Some(Role::Master), None),
            pod(1, Some(Role::Master), None),
            pod(2, Some(Role::Replica), Some(0)),
            pod(3, Some(Role::Replica), Some(1)),
        ];
        assert_eq!(
            choose_master(&pods, None),
            MasterChoice::Ambiguous(vec![key(0), key(1)])
        );
        assert_eq!(choose_master(&pods, Some(1)), MasterChoice::One(key(1)));
        assert_eq!(
            choose_master(&pods, Some(3)),
            MasterChoice::Ambiguous(vec![key(0), key(1)])
        );
    }

    #[test]
    fn announced_names_match_by_ip_fqdn_or_hostname_and_port() {
        let peer = pod(0, None, None).peer;
        assert!(announces(Some("10.0.0.1"), Some(6379), &peer));
        assert!(announces(
            Some("redis-0.redis.default.svc.cluster.local."),
            Some(6379),
            &peer
        ));
        assert!(announces(Some("REDIS-0"), None, &peer));
        assert!(!announces(Some("10.0.0.1"), Some(6380), &peer));
        assert!(!announces(Some("10.0.0.9"), Some(6379), &peer));
        assert!(!announces(None, Some(6379), &peer));
    }
}
