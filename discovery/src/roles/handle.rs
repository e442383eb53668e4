//! [`RoleWatch`]: the engine's handle, shared by a store adapter's every part.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::changes::ChangeLog;
use super::prober::Prober;
use super::rounds::RoundRequests;
use super::{PodStatus, Probe, Read, ReadPolicy, Report, RoleError, RoleOpts, Topology, Verdict};
use crate::{Health, Peer, Watch};

/// The pods of one Service with their roles, kept current by a background prober that
/// stops when the last clone is dropped. Cheap to clone.
///
/// Every pod is asked its role when it joins, every `probe_interval`, and at once when
/// [`refresh`](Self::refresh) is called (a request met a refusal or a dropped
/// connection). The leader is who the pods say it is, never an ordinal; only discovered
/// pods are ever dialled.
pub struct RoleWatch<R> {
    inner: Arc<Inner<R>>,
}

struct Inner<R> {
    watch: Watch,
    opts: Arc<RoleOpts>,
    topology: watch::Receiver<Arc<Topology<R>>>,
    requests: Arc<RoundRequests>,
    task: JoinHandle<()>,
}

impl<R> Drop for Inner<R> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<R> Clone for RoleWatch<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R> fmt::Debug for RoleWatch<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleWatch")
            .field("service", &self.inner.watch.service().to_string())
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl<R: Report> RoleWatch<R> {
    /// Starts probing `watch`'s pods with `probe`; returns after the first round, so that
    /// the first request already knows the roles.
    pub async fn start<P: Probe<Report = R>>(watch: Watch, probe: P, opts: RoleOpts) -> Self {
        let opts = Arc::new(opts);
        let (sender, topology) = watch::channel(Arc::new(Topology::empty()));
        let requests = Arc::new(RoundRequests::default());
        let mut prober = Prober {
            watch: watch.clone(),
            probe: Arc::new(probe),
            opts: Arc::clone(&opts),
            topology: sender,
            requests: Arc::clone(&requests),
            conns: HashMap::new(),
            log: ChangeLog::default(),
        };
        prober.round().await;
        if watch.peers().is_empty() && !matches!(watch.health(), Health::Starting) {
            tracing::warn!(store = P::STORE, service = %watch.service(), health = %watch.health(), "no pod discovered: requests fail with NoPods until one is (is the Service name or namespace wrong?)");
        }
        let task = tokio::spawn(prober.run());
        Self {
            inner: Arc::new(Inner {
                watch,
                opts,
                topology,
                requests,
                task,
            }),
        }
    }

    /// The latest topology: every pod's role, lag, latency, report, and the leader.
    pub fn topology(&self) -> Arc<Topology<R>> {
        self.inner.topology.borrow().clone()
    }

    /// A receiver woken after every probe round.
    pub fn topology_changes(&self) -> watch::Receiver<Arc<Topology<R>>> {
        self.inner.topology.clone()
    }

    /// The discovery watch underneath.
    pub fn watch(&self) -> &Watch {
        &self.inner.watch
    }

    /// How roles are watched.
    pub fn opts(&self) -> &RoleOpts {
        &self.inner.opts
    }

    /// Asks every pod its role now (debounced by `probe_debounce`).
    pub fn refresh(&self) {
        self.inner.requests.ask();
    }

    /// Acts on what a reply said about its pod: a probe round now if roles may have
    /// moved, and a DNS refresh too if the pod may be gone ([`Verdict::pod_lost`]; the
    /// adapter drops its own connection to it).
    pub fn observe(&self, verdict: Verdict) {
        if verdict.reprobe() {
            self.refresh();
        }
        if verdict.pod_lost() {
            self.inner.watch.refresh_now();
        }
    }

    /// The Service's name, for errors.
    pub fn service(&self) -> String {
        self.inner.watch.service().to_string()
    }

    /// The current leader, waiting up to `failover_wait` for one: while no pod leads,
    /// and while several claim it and their followers do not settle it (nothing is sent
    /// meanwhile, so waiting is safe).
    ///
    /// # Errors
    ///
    /// [`RoleError::NoLeader`] if none appears in time, [`RoleError::SplitBrain`] if
    /// several still claim it then, [`RoleError::NoPods`] at once if discovery lists no pod at all,
    /// [`RoleError::Rejected`] at once if every pod rejects this client,
    /// [`RoleError::Stopped`] if the prober is gone.
    pub async fn leader(&self) -> Result<Peer, RoleError> {
        let wait = self.inner.opts.failover_wait;
        self.leader_until(tokio::time::Instant::now() + wait, wait)
            .await
    }

    /// [`leader`](Self::leader), waiting until `deadline` (a budget of `wait` in all).
    pub(super) async fn leader_until(
        &self,
        deadline: tokio::time::Instant,
        wait: std::time::Duration,
    ) -> Result<Peer, RoleError> {
        let mut changes = self.topology_changes();
        loop {
            let topology = changes.borrow_and_update().clone();
            if let Some(leader) = topology.leader_pod() {
                return Ok(leader.peer.clone());
            }
            if !topology.pods.is_empty() && topology.pods.iter().all(|p| p.rejected) {
                return Err(RoleError::Rejected {
                    service: self.service(),
                    pods: topology
                        .pods
                        .iter()
                        .map(|p| (p.peer.key(), p.error.clone().unwrap_or_default()))
                        .collect(),
                });
            }
            if topology.pods.is_empty() && self.nothing_discovered() {
                return Err(RoleError::NoPods {
                    service: self.service(),
                    health: self.inner.watch.health(),
                });
            }
            self.refresh();
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The prober is gone (it panicked): no leader will ever be announced.
                Ok(Err(_closed)) => {
                    return Err(RoleError::Stopped {
                        service: self.service(),
                    });
                }
                Err(_elapsed) => {
                    return Err(match &topology.leader {
                        super::LeaderChoice::Ambiguous(claimants) => RoleError::SplitBrain {
                            service: self.service(),
                            claimants: claimants.clone(),
                            waited: wait,
                        },
                        _ => RoleError::NoLeader {
                            service: self.service(),
                            waited: wait,
                            pods: topology.pods.len(),
                        },
                    });
                }
            }
        }
    }

    /// Discovery has answered and lists no pod (a lazily started watch that has not
    /// answered yet is still waited for).
    fn nothing_discovered(&self) -> bool {
        let watch = &self.inner.watch;
        watch.peers().is_empty() && !matches!(watch.health(), Health::Starting)
    }

    /// A receiver that has seen the latest round, to wait for one that finishes later.
    pub(super) fn round_marker(&self) -> watch::Receiver<Arc<Topology<R>>> {
        let mut changes = self.topology_changes();
        changes.borrow_and_update();
        changes
    }

    /// Where a read under `policy` goes in `topology`.
    ///
    /// # Errors
    ///
    /// [`RoleError::NoReadablePod`], with each pod's reason.
    pub fn place<'t>(
        &self,
        topology: &'t Topology<R>,
        policy: &ReadPolicy,
    ) -> Result<Read<'t, R>, RoleError> {
        topology
            .read(policy)
            .map_err(|reasons| self.no_readable_pod(topology, policy, reasons))
    }

    /// Where a read under the configured read policy goes after it failed on `failed`'s
    /// connection: another pod of its placement in `topology` ([`Read::other_than`]), and
    /// whether it goes there only for want of better ([`Read::fallback`]). `None` when
    /// the read cannot be placed, or `failed` was its only choice.
    pub fn place_instead_of<'t>(
        &self,
        topology: &'t Topology<R>,
        failed: &Peer,
    ) -> Option<(&'t PodStatus<R>, bool)> {
        let read = topology.read(&self.inner.opts.read_policy).ok()?;
        read.other_than(failed).map(|pod| (pod, read.fallback))
    }

    /// [`RoleError::NoReadablePod`] for `policy` in `topology`, with each pod's reason: for
    /// a read that found its placement gone by the time it went out (a balancer emptied).
    pub fn unplaceable(&self, topology: &Topology<R>, policy: &ReadPolicy) -> RoleError {
        let reasons = topology.unfit_reasons().to_vec();
        self.no_readable_pod(topology, policy, reasons)
    }

    fn no_readable_pod(
        &self,
        topology: &Topology<R>,
        policy: &ReadPolicy,
        reasons: super::Reasons,
    ) -> RoleError {
        RoleError::NoReadablePod {
            service: self.service(),
            policy: policy.clone(),
            reasons,
            leader: topology.leader.clone(),
        }
    }
}
