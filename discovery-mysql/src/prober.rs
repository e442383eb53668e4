//! The background task: probe every pod, decide the primary, publish the topology.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use discovery::watch::Rounds;
use discovery::{PeerKey, Watch};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::config::MySqlConfig;
use crate::pools::Pools;
use crate::probe::{ProbeConn, probe};
use crate::report::Role;
use crate::select;
use crate::topology::{PrimaryChoice, Topology};

/// Probe rounds, one at a time: on a timer, when discovery changes, and when a statement
/// met error 1290 or a lost connection (`trigger`).
pub(crate) struct Prober {
    watch: Watch,
    pools: Pools,
    config: Arc<MySqlConfig>,
    topology: watch::Sender<Arc<Topology>>,
    trigger: Arc<Notify>,
    /// The prober's own connection per pod, apart from the pools so that probes never
    /// queue behind application load.
    conns: HashMap<PeerKey, (SocketAddr, Option<ProbeConn>)>,
    /// Since when there has been no single primary (for the failover duration).
    primary_lost_at: Option<Instant>,
    /// Whether reads currently have no fit replica.
    replicas_unfit: bool,
}

impl Prober {
    pub(crate) fn new(
        watch: Watch,
        pools: Pools,
        config: Arc<MySqlConfig>,
        topology: watch::Sender<Arc<Topology>>,
        trigger: Arc<Notify>,
    ) -> Self {
        Self {
            watch,
            pools,
            config,
            topology,
            trigger,
            conns: HashMap::new(),
            primary_lost_at: None,
            replicas_unfit: false,
        }
    }

    /// Runs until aborted (the last handle going away) or the watch ends.
    pub(crate) async fn run(mut self) {
        let mut rounds = Rounds::new(
            &self.watch,
            self.config.probe_interval,
            self.config.probe_debounce,
            Arc::clone(&self.trigger),
        );
        while rounds.next().await {
            self.round().await;
        }
    }

    /// Probes every discovered pod at once and publishes what they said.
    pub(crate) async fn round(&mut self) {
        let peers = self.watch.peers();
        self.pools.retain(&peers);
        let mut slots: Vec<_> = peers
            .iter()
            .map(|peer| {
                let slot = self
                    .conns
                    .remove(&peer.key())
                    .filter(|(addr, _)| *addr == peer.addr())
                    .and_then(|(_, conn)| conn);
                (peer.clone(), slot)
            })
            .collect();
        // Pods that left keep nothing: their connections close as the map is rebuilt.
        self.conns.clear();
        let started = Instant::now();
        let config = &self.config;
        let statuses = futures::future::join_all(
            slots
                .iter_mut()
                .map(|(peer, slot)| probe(slot, peer, config)),
        )
        .await;
        for (peer, slot) in slots {
            self.conns.insert(peer.key(), (peer.addr(), slot));
        }
        let round = started.elapsed();
        let answered: Vec<&discovery::Peer> = statuses
            .iter()
            .filter(|s| s.is_up())
            .map(|s| &s.peer)
            .collect();
        self.pools.warm(&answered).await;
        let topology = Arc::new(Topology::new(
            statuses,
            self.config.tie_break_ordinal,
            round,
        ));
        debug!(service = %self.watch.service(), pods = topology.pods.len(), elapsed = ?started.elapsed(), primary = ?topology.primary, "probe round");
        self.log_changes(&topology);
        self.topology.send_replace(topology);
    }

    fn log_changes(&mut self, next: &Topology) {
        let service = self.watch.service();
        let previous = self.topology.borrow().clone();
        let before: HashMap<PeerKey, Option<Role>> = previous
            .pods
            .iter()
            .map(|p| (p.peer.key(), p.role()))
            .collect();
        for pod in &next.pods {
            if let Some(old) = before.get(&pod.peer.key())
                && *old != pod.role()
            {
                info!(service = %service, pod = pod.peer.hostname(), from = ?old, to = ?pod.role(), "role changed");
            }
        }
        let fit = select::fit_replicas(next, &self.config);
        let unfit = fit.is_empty() && !next.pods.is_empty();
        if unfit && !self.replicas_unfit {
            let why = select::unfit_reasons(next, &self.config).join("; ");
            warn!(service = %service, %why, "no replica can serve reads: ReplicaPreferred reads go to the primary");
        } else if !unfit && self.replicas_unfit {
            info!(service = %service, replicas = fit.len(), "replicas serve reads again");
        }
        self.replicas_unfit = unfit;
        if previous.primary == next.primary {
            return;
        }
        match &next.primary {
            PrimaryChoice::One(new) => {
                let took = self.primary_lost_at.take().map(|t| t.elapsed());
                match &previous.primary {
                    PrimaryChoice::One(old) => {
                        info!(service = %service, from = %old, to = %new, "failover: the primary moved");
                    }
                    _ => info!(service = %service, primary = %new, took = ?took, "primary found"),
                }
            }
            PrimaryChoice::None => {
                self.primary_lost_at.get_or_insert(previous.probed_at);
                warn!(service = %service, "no primary: writes wait up to failover_wait");
            }
            PrimaryChoice::Ambiguous(claimants) => {
                self.primary_lost_at.get_or_insert(previous.probed_at);
                warn!(service = %service, ?claimants, "several writable primaries and no verdict from the replicas: writes are refused");
            }
        }
    }
}
