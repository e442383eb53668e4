//! The background task: probe every pod, decide the master, publish the topology.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use discovery::watch::Rounds;
use discovery::{PeerKey, Watch};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::config::RedisConfig;
use crate::connections::Connections;
use crate::probe::probe;
use crate::role::Role;
use crate::topology::{MasterChoice, Topology};

/// Probe rounds, one at a time: on a timer, when discovery changes, and when a command
/// hit a wrong-role error or a dropped connection (`trigger`).
pub(crate) struct Prober {
    watch: Watch,
    connections: Connections,
    config: Arc<RedisConfig>,
    topology: watch::Sender<Arc<Topology>>,
    trigger: Arc<Notify>,
    /// Since when there has been no single master (for the failover duration).
    master_lost_at: Option<Instant>,
}

impl Prober {
    pub(crate) fn new(
        watch: Watch,
        connections: Connections,
        config: Arc<RedisConfig>,
        topology: watch::Sender<Arc<Topology>>,
        trigger: Arc<Notify>,
    ) -> Self {
        Self {
            watch,
            connections,
            config,
            topology,
            trigger,
            master_lost_at: None,
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
        self.connections.retain(&peers);
        let started = Instant::now();
        let statuses = futures::future::join_all(
            peers
                .iter()
                .map(|peer| probe(&self.connections, peer, self.config.probe_timeout)),
        )
        .await;
        let topology = Arc::new(Topology::new(
            statuses,
            self.config.tie_break_ordinal,
            started.elapsed(),
        ));
        debug!(service = %self.watch.service(), pods = topology.pods.len(), elapsed = ?started.elapsed(), master = ?topology.master, "probe round");
        self.log_changes(&topology);
        self.topology.send_replace(topology);
    }

    fn log_changes(&mut self, next: &Topology) {
        let previous = self.topology.borrow().clone();
        let before: HashMap<PeerKey, Option<Role>> = previous
            .pods
            .iter()
            .map(|p| (p.peer.key(), p.role()))
            .collect();
        for pod in &next.pods {
            match before.get(&pod.peer.key()) {
                Some(old) if *old != pod.role() => {
                    info!(service = %self.watch.service(), pod = pod.peer.hostname(), from = ?old, to = ?pod.role(), "role changed");
                }
                _ => {}
            }
        }
        if previous.master == next.master {
            return;
        }
        let now = Instant::now();
        match (&previous.master, &next.master) {
            (_, MasterChoice::One(new)) => {
                let took = self.master_lost_at.take().map(|t| now.duration_since(t));
                match &previous.master {
                    MasterChoice::One(old) => {
                        info!(service = %self.watch.service(), from = %old, to = %new, "failover: the master moved")
                    }
                    _ => {
                        info!(service = %self.watch.service(), master = %new, took = ?took, "master found")
                    }
                }
            }
            (_, MasterChoice::None) => {
                self.master_lost_at.get_or_insert(previous.probed_at);
                warn!(service = %self.watch.service(), "no master: writes wait up to failover_wait");
            }
            (_, MasterChoice::Ambiguous(claimants)) => {
                self.master_lost_at.get_or_insert(previous.probed_at);
                warn!(service = %self.watch.service(), ?claimants, "several masters and no verdict from the replicas: writes are refused");
            }
        }
    }
}
