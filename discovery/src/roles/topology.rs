//! [`Topology`]: one probe round's view of the StatefulSet, and who leads it.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::select::{Reasons, unfit_replica};
use super::status::micros;
use super::{PodStatus, Report, Role, RoleOpts};
use crate::PeerKey;

/// Who the engine takes as leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "pods", rename_all = "snake_case")]
pub enum LeaderChoice {
    /// This pod.
    One(PeerKey),
    /// No pod says it leads (a failover in progress, or every leader down).
    None,
    /// Several say so and their followers do not settle it (split brain).
    Ambiguous(Vec<PeerKey>),
}

impl fmt::Display for LeaderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaderChoice::One(key) => write!(f, "leader {key}"),
            LeaderChoice::None => f.write_str("no leader"),
            LeaderChoice::Ambiguous(keys) => {
                f.write_str("several leaders:")?;
                for key in keys {
                    write!(f, " {key}")?;
                }
                Ok(())
            }
        }
    }
}

/// One probe round's view of the StatefulSet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Topology<R> {
    /// Every discovered pod, in discovery's order (ordinal, then name).
    pub pods: Vec<PodStatus<R>>,
    /// The leader writes go to.
    pub leader: LeaderChoice,
    /// When the round finished.
    pub probed_at: Instant,
    /// How long the round took, all pods probed at once.
    pub round: Duration,
    /// Which pods may serve replica reads (indices into `pods`), and why each other may
    /// not: judged once per round, not on every read.
    pub(super) fit: Vec<usize>,
    pub(super) reasons: Reasons,
}

impl<R: Report> Topology<R> {
    /// An empty topology, before the first round.
    pub fn empty() -> Self {
        Self {
            pods: Vec::new(),
            leader: LeaderChoice::None,
            probed_at: Instant::now(),
            round: Duration::ZERO,
            fit: Vec::new(),
            reasons: Vec::new(),
        }
    }

    /// The topology the pods' statuses make under `opts`: the leader chosen (see
    /// [`choose_leader`]), each replica's lag filled in, and which replicas may serve
    /// reads (the lag limits are `opts`').
    pub fn new(mut pods: Vec<PodStatus<R>>, opts: &RoleOpts, round: Duration) -> Self {
        let leader = choose_leader(&pods, opts.tie_break_ordinal);
        let key = match &leader {
            LeaderChoice::One(key) => Some(key),
            _ => None,
        };
        fill_lag(&mut pods, key);
        let leader_peer = key
            .and_then(|key| pods.iter().find(|p| &p.peer.key() == key))
            .map(|p| p.peer.clone());
        let mut fit = Vec::new();
        let mut reasons = Vec::new();
        for (i, pod) in pods.iter().enumerate() {
            match unfit_replica(pod, leader_peer.as_ref(), opts) {
                None => fit.push(i),
                Some(why) => reasons.push((pod.peer.key(), why)),
            }
        }
        Self {
            pods,
            leader,
            probed_at: Instant::now(),
            round,
            fit,
            reasons,
        }
    }

    /// The leader's status, when there is exactly one.
    pub fn leader_pod(&self) -> Option<&PodStatus<R>> {
        match &self.leader {
            LeaderChoice::One(key) => self.pod(key),
            _ => None,
        }
    }

    /// The pod with this key.
    pub fn pod(&self, key: &PeerKey) -> Option<&PodStatus<R>> {
        self.pods.iter().find(|p| p.peer.fqdn() == key.as_str())
    }

    /// The pod with this StatefulSet ordinal (`redis-2` is 2), whatever its role.
    pub fn by_ordinal(&self, ordinal: u32) -> Option<&PodStatus<R>> {
        self.pods.iter().find(|p| p.peer.ordinal() == Some(ordinal))
    }
}

impl<R: Report + Serialize> Serialize for Topology<R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Topology", 3)?;
        s.serialize_field("pods", &self.pods)?;
        s.serialize_field("leader", &self.leader)?;
        s.serialize_field("round_us", &micros(self.round))?;
        s.end()
    }
}

/// Exactly one serving leader → it. None → none. Several → the one the replicas follow,
/// if only one of them has followers; else the tie-break ordinal if it is among them;
/// else ambiguous. The ordinal never decides otherwise: after a failover, pod 0 is often
/// a replica.
pub fn choose_leader<R: Report>(
    pods: &[PodStatus<R>],
    tie_break_ordinal: Option<u32>,
) -> LeaderChoice {
    let leaders: Vec<&PodStatus<R>> = pods
        .iter()
        .filter(|p| {
            p.report
                .as_ref()
                .is_some_and(|r| r.role() == Role::Leader && r.unfit().is_none())
        })
        .collect();
    match leaders.as_slice() {
        [] => return LeaderChoice::None,
        [one] => return LeaderChoice::One(one.peer.key()),
        _ => {}
    }
    let followed: Vec<&PodStatus<R>> = leaders
        .iter()
        .copied()
        .filter(|leader| {
            pods.iter()
                .any(|p| p.role() == Some(Role::Replica) && p.follows(&leader.peer))
        })
        .collect();
    if let [one] = followed.as_slice() {
        return LeaderChoice::One(one.peer.key());
    }
    if let Some(preferred) = tie_break_ordinal {
        let tied = if followed.is_empty() {
            &leaders
        } else {
            &followed
        };
        if let Some(leader) = tied.iter().find(|m| m.peer.ordinal() == Some(preferred)) {
            return LeaderChoice::One(leader.peer.key());
        }
    }
    LeaderChoice::Ambiguous(leaders.iter().map(|m| m.peer.key()).collect())
}

/// Each replica gets its lag, as its store measures it: against the leader's report when
/// it follows the leader, from its own report alone otherwise.
fn fill_lag<R: Report>(pods: &mut [PodStatus<R>], leader: Option<&PeerKey>) {
    let leader = leader
        .and_then(|key| pods.iter().find(|p| &p.peer.key() == key))
        .and_then(|p| Some((p.report.clone()?, p.peer.clone())));
    for pod in pods.iter_mut() {
        let Some(report) = &pod.report else { continue };
        if report.role() != Role::Replica {
            continue;
        }
        let followed = leader
            .as_ref()
            .filter(|(_, peer)| report.follows(peer))
            .map(|(report, peer)| (report, peer));
        pod.lag = report.lag(&pod.peer, followed);
    }
}
