//! Logging what a probe round changed: roles, the leader (with how long it was missing),
//! and whether replicas can serve reads.

use std::collections::HashMap;
use std::time::Instant;

use tracing::{info, warn};

use super::{LeaderChoice, Report, Role, Topology};
use crate::PeerKey;

/// What the previous rounds left to compare with.
#[derive(Debug, Default)]
pub(super) struct ChangeLog {
    /// Since when there has been no single leader (for the failover's duration).
    leader_lost_at: Option<Instant>,
    /// Whether reads had no fit replica.
    replicas_unfit: bool,
}

impl ChangeLog {
    pub(super) fn log<R: Report>(
        &mut self,
        store: &str,
        service: &str,
        previous: &Topology<R>,
        next: &Topology<R>,
    ) {
        let before: HashMap<PeerKey, Option<Role>> = previous
            .pods
            .iter()
            .map(|p| (p.peer.key(), p.role()))
            .collect();
        for pod in &next.pods {
            if let Some(old) = before.get(&pod.peer.key())
                && *old != pod.role()
            {
                info!(store, service, pod = pod.peer.hostname(), from = ?old, to = ?pod.role(), "role changed");
            }
        }
        let fit = next.fit_replicas().len();
        let unfit = fit == 0 && next.pods.len() > 1;
        if unfit && !self.replicas_unfit {
            let reasons: Vec<String> = next
                .unfit_reasons()
                .iter()
                .map(|(key, why)| format!("{key} {why}"))
                .collect();
            warn!(store, service, why = %reasons.join("; "), "no replica can serve reads: ReplicaPreferred reads go to the leader");
        } else if !unfit && self.replicas_unfit {
            info!(store, service, replicas = fit, "replicas serve reads again");
        }
        self.replicas_unfit = unfit;
        if previous.leader == next.leader {
            return;
        }
        match &next.leader {
            LeaderChoice::One(new) => {
                let took = self.leader_lost_at.take().map(|t| t.elapsed());
                match &previous.leader {
                    LeaderChoice::One(old) => {
                        info!(store, service, from = %old, to = %new, "failover: the leader moved");
                    }
                    _ => info!(store, service, leader = %new, took = ?took, "leader found"),
                }
            }
            LeaderChoice::None => {
                self.leader_lost_at.get_or_insert(previous.probed_at);
                warn!(store, service, "no leader: writes wait up to failover_wait");
            }
            LeaderChoice::Ambiguous(claimants) => {
                self.leader_lost_at.get_or_insert(previous.probed_at);
                warn!(
                    store,
                    service,
                    ?claimants,
                    "several leaders and no verdict from their followers: writes are refused"
                );
            }
        }
    }
}
