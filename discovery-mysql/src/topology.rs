//! The observed topology: every pod's role, replication and health, and the primary.

use std::time::{Duration, Instant};

use discovery::{Peer, PeerKey};
use serde::Serialize;

use crate::report::{Role, ServerReport};

/// One pod as the last probe round saw it.
#[derive(Debug, Clone, Serialize)]
pub struct PodStatus {
    /// The pod, from discovery.
    #[serde(flatten)]
    pub peer: Peer,
    /// Its role, from its report (`None` if it did not answer).
    pub role: Option<Role>,
    /// What it reported, if it answered.
    pub report: Option<ServerReport>,
    /// Why it did not answer.
    pub error: Option<String>,
    /// How long the probe took.
    #[serde(serialize_with = "optional_micros", rename = "latency_us")]
    pub latency: Option<Duration>,
}

impl PodStatus {
    /// The reported role, if it answered.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Whether it answered its probe.
    pub fn is_up(&self) -> bool {
        self.report.is_some()
    }

    /// How far behind its source it is, when it replicates and the lag is known.
    pub fn lag(&self) -> Option<Duration> {
        self.report
            .as_ref()?
            .replication
            .as_ref()?
            .seconds_behind
            .map(Duration::from_secs)
    }

    /// Whether it replicates from `source` (by the host its replication is configured
    /// with: IP, FQDN or short name).
    pub fn follows(&self, source: &Peer) -> bool {
        self.report
            .as_ref()
            .and_then(|r| r.replication.as_ref())
            .filter(|r| r.source_port.is_none_or(|p| p == source.port()))
            .and_then(|r| r.source_host.as_deref())
            .is_some_and(|host| source.is_named(host))
    }
}

/// Who the client takes as primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "pods", rename_all = "snake_case")]
pub enum PrimaryChoice {
    /// This pod.
    One(PeerKey),
    /// No pod is writable and not replicating (a failover in progress, or all down).
    None,
    /// Several are, and the replicas do not settle it (split brain).
    Ambiguous(Vec<PeerKey>),
}

/// One probe round's view of the StatefulSet.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// Every discovered pod, in discovery's order (ordinal, then name).
    pub pods: Vec<PodStatus>,
    /// The primary the client writes to.
    pub primary: PrimaryChoice,
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
            primary: PrimaryChoice::None,
            probed_at: Instant::now(),
            round: Duration::ZERO,
        }
    }

    /// Builds the topology from the pods' reports.
    pub(crate) fn new(
        pods: Vec<PodStatus>,
        tie_break_ordinal: Option<u32>,
        round: Duration,
    ) -> Self {
        let primary = choose_primary(&pods, tie_break_ordinal);
        Self {
            pods,
            primary,
            probed_at: Instant::now(),
            round,
        }
    }

    /// The primary pod, when there is exactly one.
    pub fn primary(&self) -> Option<&PodStatus> {
        match &self.primary {
            PrimaryChoice::One(key) => self.pod(key),
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

/// Exactly one writable, non-replicating pod → it. None → none. Several → the one the
/// replicas follow, if only one of them has followers; else the tie-break ordinal if it
/// is among them; else ambiguous. The ordinal never decides otherwise: after a failover,
/// `mysql-0` is often a replica.
pub(crate) fn choose_primary(pods: &[PodStatus], tie_break_ordinal: Option<u32>) -> PrimaryChoice {
    let writable: Vec<&PodStatus> = pods
        .iter()
        .filter(|p| p.role() == Some(Role::Primary))
        .collect();
    match writable.as_slice() {
        [] => return PrimaryChoice::None,
        [one] => return PrimaryChoice::One(one.peer.key()),
        _ => {}
    }
    let followed: Vec<&PodStatus> = writable
        .iter()
        .copied()
        .filter(|primary| pods.iter().any(|p| p.follows(&primary.peer)))
        .collect();
    if let [one] = followed.as_slice() {
        return PrimaryChoice::One(one.peer.key());
    }
    if let Some(preferred) = tie_break_ordinal {
        let tied = if followed.is_empty() {
            &writable
        } else {
            &followed
        };
        if let Some(primary) = tied.iter().find(|m| m.peer.ordinal() == Some(preferred)) {
            return PrimaryChoice::One(primary.peer.key());
        }
    }
    PrimaryChoice::Ambiguous(writable.iter().map(|m| m.peer.key()).collect())
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn optional_micros<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => micros(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Flavor, Replication};

    fn pod(ordinal: u32, read_only: Option<bool>, follows: Option<&str>) -> PodStatus {
        let peer = Peer::new(
            &format!("mysql-{ordinal}.mysql.default.svc.cluster.local"),
            (std::net::Ipv4Addr::new(10, 0, 0, ordinal as u8 + 1), 3306).into(),
        );
        let report = read_only.map(|read_only| ServerReport {
            server_id: 100 + ordinal,
            version: "10.11.19-MariaDB".to_owned(),
            flavor: Flavor::MariaDb,
            read_only,
            super_read_only: None,
            gtid_position: None,
            replication: follows.map(|host| Replication {
                source_host: Some(host.to_owned()),
                source_port: Some(3306),
                io_running: Some("Yes".to_owned()),
                sql_running: Some("Yes".to_owned()),
                seconds_behind: Some(0),
                last_error: None,
            }),
        });
        PodStatus {
            peer,
            role: report.as_ref().map(ServerReport::role),
            report,
            error: None,
            latency: None,
        }
    }

    fn key(ordinal: u32) -> PeerKey {
        pod(ordinal, None, None).peer.key()
    }

    #[test]
    fn the_primary_is_whoever_is_writable_and_not_replicating() {
        let pods = [
            pod(0, Some(true), Some("mysql-1.mysql")),
            pod(1, Some(false), None),
            pod(2, Some(true), Some("10.0.0.2")),
        ];
        assert_eq!(choose_primary(&pods, None), PrimaryChoice::One(key(1)));
    }

    #[test]
    fn no_primary_and_the_ordinal_never_makes_one() {
        let pods = [
            pod(0, None, None),
            pod(1, Some(true), Some("mysql-0.mysql")),
        ];
        assert_eq!(choose_primary(&pods, Some(0)), PrimaryChoice::None);
        let fenced = [
            pod(0, Some(true), None),
            pod(1, Some(true), Some("mysql-0")),
        ];
        assert_eq!(choose_primary(&fenced, Some(0)), PrimaryChoice::None);
    }

    #[test]
    fn split_brain_goes_to_the_followed_primary_else_the_tie_break_else_nowhere() {
        let settled = [
            pod(0, Some(false), None),
            pod(1, Some(false), None),
            pod(
                2,
                Some(true),
                Some("mysql-1.mysql.default.svc.cluster.local"),
            ),
        ];
        assert_eq!(
            choose_primary(&settled, Some(0)),
            PrimaryChoice::One(key(1))
        );
        let unsettled = [
            pod(0, Some(false), None),
            pod(1, Some(false), None),
            pod(2, Some(true), Some("10.0.0.1")),
            pod(3, Some(true), Some("10.0.0.2")),
        ];
        assert_eq!(
            choose_primary(&unsettled, None),
            PrimaryChoice::Ambiguous(vec![key(0), key(1)])
        );
        assert_eq!(
            choose_primary(&unsettled, Some(1)),
            PrimaryChoice::One(key(1))
        );
    }
}
