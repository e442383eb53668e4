//! Which pods are fit to serve reads, and where a [`ReadPolicy`] sends one.

use super::{PodStatus, ReadPolicy, Report, Role, RoleOpts, Topology, Unfit};
use crate::{Peer, PeerKey};

/// Where a read goes.
#[derive(Debug)]
pub enum Target<'a, R> {
    /// This pod.
    Pod(&'a PodStatus<R>),
    /// One of these fit replicas: the adapter balances over them.
    Replicas(Vec<&'a PodStatus<R>>),
}

/// A read's destination under its policy.
#[derive(Debug)]
#[non_exhaustive]
pub struct Read<'a, R> {
    /// Where it goes.
    pub target: Target<'a, R>,
    /// Whether it goes somewhere its policy only accepts for want of better: the leader for
    /// `ReplicaPreferred`, replicas for `LeaderPreferred`.
    pub fallback: bool,
}

impl<'a, R> Read<'a, R> {
    /// The pod, or one of the replicas at random, for adapters that do not balance.
    /// (`None` only for an empty replica list, which the engine never places.)
    pub fn one(&self) -> Option<&'a PodStatus<R>> {
        match &self.target {
            Target::Pod(pod) => Some(pod),
            Target::Replicas(replicas) => any_of(replicas),
        }
    }

    /// Where a read that failed on `failed` goes instead: the placement's pod, or one of
    /// its other replicas at random; `None` when `failed` was its only choice. (A pod that
    /// just failed is still fit until the next probe round says otherwise.)
    pub fn other_than(&self, failed: &Peer) -> Option<&'a PodStatus<R>> {
        match &self.target {
            Target::Pod(pod) => Some(*pod).filter(|pod| pod.peer != *failed),
            Target::Replicas(replicas) => {
                let others: Vec<_> = replicas
                    .iter()
                    .copied()
                    .filter(|pod| pod.peer != *failed)
                    .collect();
                any_of(&others)
            }
        }
    }
}

/// Why no pod can serve a read: each unfit pod and its reason.
pub type Reasons = Vec<(PeerKey, Unfit)>;

/// Why `pod` may not serve reads as a replica of `leader`, or `None` if it may.
pub(super) fn unfit_replica<R: Report>(
    pod: &PodStatus<R>,
    leader: Option<&Peer>,
    opts: &RoleOpts,
) -> Option<Unfit> {
    if pod.peer.is_draining() {
        return Some(Unfit::Draining);
    }
    let Some(report) = &pod.report else {
        return Some(Unfit::NoAnswer {
            error: pod.error.clone().unwrap_or_else(|| "no reply".to_owned()),
        });
    };
    if let Some(unfit) = report.unfit() {
        return Some(unfit);
    }
    let role = report.role();
    if role != Role::Replica {
        return Some(Unfit::Role { role });
    }
    if let Some(leader) = leader
        && !report.follows(leader)
    {
        return Some(Unfit::FollowsAnother);
    }
    if let (Some(max), Some(lag)) = (opts.max_lag_bytes, pod.lag.bytes)
        && lag > max
    {
        return Some(Unfit::BehindBytes { lag, max });
    }
    if let (Some(max), Some(lag)) = (opts.max_lag, pod.lag.time)
        && lag > max
    {
        return Some(Unfit::Behind { lag, max });
    }
    None
}

impl<R: Report> Topology<R> {
    /// The replicas that may serve reads (judged when the round's topology was made).
    pub fn fit_replicas(&self) -> Vec<&PodStatus<R>> {
        self.fit.iter().filter_map(|&i| self.pods.get(i)).collect()
    }

    /// The replicas a balancer spreads reads under `policy` over: those [`read`](Self::read)
    /// targets (a zone's or a node's for the locality policies, all fit replicas when none
    /// is local), and all fit replicas for a policy that targets one pod.
    pub fn read_replicas(&self, policy: &ReadPolicy) -> Vec<&PodStatus<R>> {
        match self.read(policy) {
            Ok(Read {
                target: Target::Replicas(replicas),
                ..
            }) => replicas,
            _ => self.fit_replicas(),
        }
    }

    /// Why each pod that may not serve replica reads may not (the leader included: it is
    /// not a replica).
    pub fn unfit_reasons(&self) -> &[(PeerKey, Unfit)] {
        &self.reasons
    }

    /// Where a read under `policy` goes, or why no pod can take it.
    ///
    /// # Errors
    ///
    /// Each pod's reason when none fits the policy.
    pub fn read(&self, policy: &ReadPolicy) -> Result<Read<'_, R>, Reasons> {
        let replicas = self.fit_replicas();
        let leader = self.leader_pod();
        let fit = || leader.into_iter().chain(replicas.iter().copied());
        let pod = |p| Read {
            target: Target::Pod(p),
            fallback: false,
        };
        let balanced = |fallback| {
            (!replicas.is_empty()).then(|| Read {
                target: Target::Replicas(replicas.clone()),
                fallback,
            })
        };
        let chosen = match policy {
            ReadPolicy::Leader => leader.map(pod),
            ReadPolicy::LeaderPreferred => leader.map(pod).or_else(|| balanced(true)),
            ReadPolicy::Replica => balanced(false),
            ReadPolicy::ReplicaPreferred => balanced(false).or_else(|| {
                leader.map(|p| Read {
                    target: Target::Pod(p),
                    fallback: true,
                })
            }),
            ReadPolicy::Any => any_of(&fit().collect::<Vec<_>>()).map(pod),
            ReadPolicy::LowestLatency => fit()
                .filter(|p| p.latency.is_some())
                .min_by_key(|p| p.latency)
                .map(pod),
            ReadPolicy::Ordinal(n) => fit().find(|p| p.peer.ordinal() == Some(*n)).map(pod),
            ReadPolicy::Custom(predicate) => {
                any_of(&fit().filter(|p| predicate(&p.peer)).collect::<Vec<_>>()).map(pod)
            }
            ReadPolicy::SameZone(zone) => {
                self.local(&replicas, |p| p.zone() == Some(&**zone), leader)
            }
            ReadPolicy::SameNode(node) => {
                self.local(&replicas, |p| p.node() == Some(&**node), leader)
            }
        };
        chosen.ok_or_else(|| self.reasons.clone())
    }
}

impl<R: Report> Topology<R> {
    /// The fit replicas where `here` holds; else any fit replica, else the leader, both
    /// marked as fallbacks.
    fn local<'a>(
        &'a self,
        replicas: &[&'a PodStatus<R>],
        here: impl Fn(&Peer) -> bool,
        leader: Option<&'a PodStatus<R>>,
    ) -> Option<Read<'a, R>> {
        let local: Vec<_> = replicas.iter().copied().filter(|p| here(&p.peer)).collect();
        if !local.is_empty() {
            return Some(Read {
                target: Target::Replicas(local),
                fallback: false,
            });
        }
        let target = if replicas.is_empty() {
            Target::Pod(leader?)
        } else {
            Target::Replicas(replicas.to_vec())
        };
        Some(Read {
            target,
            fallback: true,
        })
    }
}

/// One at random, `None` for none: reads spread evenly over the fit pods. (Probe
/// latencies on one network differ by noise; steering on them would pile reads on one
/// pod. `LowestLatency` is the explicit choice, and the balanced services weigh real
/// request latency.) Adapters use it for reads they narrow further (read-your-writes).
pub fn any_of<'a, R>(pods: &[&'a PodStatus<R>]) -> Option<&'a PodStatus<R>> {
    match pods.len() {
        0 => None,
        n => Some(pods[rand::random_range(0..n)]),
    }
}
