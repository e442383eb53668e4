//! What a probe round changed (roles, the leader with how long it was missing, whether
//! replicas can serve reads), worked out as data, then logged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{LeaderChoice, Report, Role, Topology, Unfit};
use crate::PeerKey;

/// One change between two rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transition {
    /// A pod that answered both rounds reports another role.
    RoleChanged {
        pod: PeerKey,
        from: Option<Role>,
        to: Option<Role>,
    },
    /// Replica reads lost their last fit replica, for these reasons.
    NoFitReplica { reasons: Vec<(PeerKey, Unfit)> },
    /// Replicas can serve reads again.
    ReplicasFit { fit: usize },
    /// A leader appears where there was none (or several); `after` is how long writes had
    /// no single leader, when that is known.
    LeaderFound {
        leader: PeerKey,
        after: Option<Duration>,
    },
    /// The leader moved from one pod to another between two rounds.
    LeaderMoved { from: PeerKey, to: PeerKey },
    /// No pod says it leads.
    LeaderLost,
    /// Several say so, and their followers do not settle it.
    SplitBrain { claimants: Vec<PeerKey> },
}

/// What the previous rounds left to compare with.
#[derive(Debug, Default)]
pub(super) struct ChangeLog {
    /// Since when there has been no single leader (for the failover's duration).
    leader_lost_at: Option<Instant>,
    /// Whether reads had no fit replica.
    replicas_unfit: bool,
}

impl ChangeLog {
    /// What changed from `previous` to `next`, remembering what the next call needs.
    pub(super) fn transitions<R: Report>(
        &mut self,
        previous: &Topology<R>,
        next: &Topology<R>,
    ) -> Vec<Transition> {
        let before: HashMap<PeerKey, Option<Role>> = previous
            .pods
            .iter()
            .map(|p| (p.peer.key(), p.role()))
            .collect();
        let mut changes: Vec<Transition> = next
            .pods
            .iter()
            .filter_map(|pod| {
                let from = *before.get(&pod.peer.key())?;
                (from != pod.role()).then(|| Transition::RoleChanged {
                    pod: pod.peer.key(),
                    from,
                    to: pod.role(),
                })
            })
            .collect();
        let fit = next.fit_replicas().len();
        let unfit = fit == 0 && next.pods.len() > 1;
        if unfit && !self.replicas_unfit {
            changes.push(Transition::NoFitReplica {
                reasons: next.unfit_reasons().to_vec(),
            });
        } else if !unfit && self.replicas_unfit {
            changes.push(Transition::ReplicasFit { fit });
        }
        self.replicas_unfit = unfit;
        if previous.leader == next.leader {
            return changes;
        }
        changes.push(match &next.leader {
            LeaderChoice::One(new) => {
                let lost_at = self.leader_lost_at.take();
                match &previous.leader {
                    LeaderChoice::One(old) => Transition::LeaderMoved {
                        from: old.clone(),
                        to: new.clone(),
                    },
                    _ => Transition::LeaderFound {
                        leader: new.clone(),
                        after: lost_at.map(|t| next.probed_at.saturating_duration_since(t)),
                    },
                }
            }
            LeaderChoice::None => {
                self.leader_lost_at.get_or_insert(previous.probed_at);
                Transition::LeaderLost
            }
            LeaderChoice::Ambiguous(claimants) => {
                self.leader_lost_at.get_or_insert(previous.probed_at);
                Transition::SplitBrain {
                    claimants: claimants.clone(),
                }
            }
        });
        changes
    }

    /// Logs what changed from `previous` to `next`.
    pub(super) fn log<R: Report>(
        &mut self,
        store: &str,
        service: &str,
        previous: &Topology<R>,
        next: &Topology<R>,
    ) {
        for change in self.transitions(previous, next) {
            match change {
                Transition::RoleChanged { pod, from, to } => {
                    info!(store, service, %pod, ?from, ?to, "role changed");
                }
                Transition::NoFitReplica { reasons } => {
                    let why: Vec<String> = reasons
                        .iter()
                        .map(|(key, why)| format!("{key} {why}"))
                        .collect();
                    warn!(store, service, why = %why.join("; "), "no replica can serve reads: ReplicaPreferred reads go to the leader");
                }
                Transition::ReplicasFit { fit } => {
                    info!(store, service, replicas = fit, "replicas serve reads again");
                }
                Transition::LeaderFound { leader, after } => {
                    info!(store, service, %leader, took = ?after, "leader found");
                }
                Transition::LeaderMoved { from, to } => {
                    info!(store, service, %from, %to, "failover: the leader moved");
                }
                Transition::LeaderLost => {
                    warn!(store, service, "no leader: writes wait up to failover_wait");
                }
                Transition::SplitBrain { claimants } => warn!(
                    store,
                    service,
                    ?claimants,
                    "several leaders and no verdict from their followers: writes are refused"
                ),
            }
        }
    }
}
