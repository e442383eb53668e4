//! [`RedisRouter`]: the handle applications route commands through.

use std::sync::Arc;

use discovery::{Discovery, IntoServiceName, Peer, Watch};
use redis::aio::MultiplexedConnection;
use redis::{Cmd, Value};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::commands::CommandTable;
use crate::config::RedisConfig;
use crate::connections::Connections;
use crate::error::{Error, Result};
use crate::master::MasterConnection;
use crate::pod::PodConnection;
use crate::prober::Prober;
use crate::read_from::ReadFrom;
use crate::select;
use crate::service::{MasterService, PodService, ReplicaService};
use crate::topology::{MasterChoice, Topology};

/// Routes commands to the pods of a Redis StatefulSet by role. Cheap to clone; clones
/// share one prober and one connection per pod.
///
/// ## Behavior
///
/// - Every discovered pod is asked `ROLE` (and `INFO replication`) when it joins, every
///   `probe_interval`, and at once when a command meets `READONLY`, `MASTERDOWN`,
///   `LOADING` or a dropped connection. The master is who the pods say it is, never an
///   ordinal; only discovered pods are ever dialled.
/// - [`master`](Self::master) follows the master across failovers; a write rejected with
///   `READONLY` (so not applied) is retried once on the new master.
/// - [`replica`](Self::replica) and [`route`](Self::route) send reads where a
///   [`ReadFrom`] says, skipping replicas that are down, loading, cut off from their master
///   or lagging.
/// - The prober stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct RedisRouter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    watch: Watch,
    config: Arc<RedisConfig>,
    commands: CommandTable,
    connections: Connections,
    topology: watch::Receiver<Arc<Topology>>,
    trigger: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisRouter {
    /// Watches `service` with `discovery` and starts routing; returns after the first probe
    /// round, so the first command already knows the roles.
    ///
    /// # Errors
    ///
    /// [`Error::Discovery`] if the Service cannot be resolved.
    pub async fn connect(
        discovery: &Discovery,
        service: impl IntoServiceName,
        config: RedisConfig,
    ) -> Result<Self> {
        let watch = discovery.watch(service).await?;
        Ok(Self::from_watch(watch, config).await)
    }

    /// Starts routing over an existing watch; returns after the first probe round.
    pub async fn from_watch(watch: Watch, config: RedisConfig) -> Self {
        Self::with_commands(watch, config, CommandTable::default()).await
    }

    /// As [`from_watch`](Self::from_watch), with your own table of read-only commands.
    pub async fn with_commands(watch: Watch, config: RedisConfig, commands: CommandTable) -> Self {
        let config = Arc::new(config);
        let connections = Connections::new(Arc::clone(&config));
        let (topology_tx, topology_rx) = watch::channel(Arc::new(Topology::empty()));
        let trigger = Arc::new(Notify::new());
        let mut prober = Prober::new(
            watch.clone(),
            connections.clone(),
            Arc::clone(&config),
            topology_tx,
            Arc::clone(&trigger),
        );
        prober.round().await;
        let task = tokio::spawn(prober.run());
        Self {
            inner: Arc::new(Inner {
                watch,
                config,
                commands,
                connections,
                topology: topology_rx,
                trigger,
                task,
            }),
        }
    }

    /// The latest topology: every pod's role, offsets, lag, link, latency, and the master.
    pub fn topology(&self) -> Arc<Topology> {
        self.inner.topology.borrow().clone()
    }

    /// A receiver woken after every probe round.
    pub fn topology_changes(&self) -> watch::Receiver<Arc<Topology>> {
        self.inner.topology.clone()
    }

    /// The discovery watch underneath.
    pub fn watch(&self) -> &Watch {
        &self.inner.watch
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Asks every pod its role now (debounced), e.g. after an error of your own.
    pub fn refresh(&self) {
        self.inner.trigger.notify_one();
    }

    /// A connection that always points at the current master. Use it with redis-rs's
    /// `AsyncCommands` or `query_async`.
    ///
    /// # Errors
    ///
    /// [`Error::NoMaster`] if no master appears within `failover_wait`;
    /// [`Error::SplitBrain`] if several claim it; [`Error::Pod`] if it cannot be reached.
    pub async fn master(&self) -> Result<MasterConnection> {
        let (peer, conn) = self.current_master().await?;
        Ok(MasterConnection::new(self.clone(), peer, conn))
    }

    /// A connection to a pod chosen by `read_from`, for reads.
    ///
    /// # Errors
    ///
    /// [`Error::NoReadablePod`] (saying why each pod was left out), or [`Error::Pod`].
    pub async fn replica(&self, read_from: &ReadFrom) -> Result<PodConnection> {
        let topology = self.topology();
        let peer = select::pick(&topology, read_from, &self.inner.config)
            .map(|pod| pod.peer.clone())
            .map_err(|why| Error::NoReadablePod {
                service: self.service_name(),
                policy: read_from.to_string(),
                why,
            })?;
        let conn = self.connection(&peer).await?;
        Ok(PodConnection::new(self.clone(), peer, conn))
    }

    /// Sends one command where it belongs: reads (per the [`CommandTable`]) per
    /// `read_from`, everything else to the master.
    ///
    /// # Errors
    ///
    /// As [`master`](Self::master) or [`replica`](Self::replica), or the server's reply error.
    pub async fn route(&self, cmd: &Cmd, read_from: &ReadFrom) -> Result<Value> {
        if self.inner.commands.is_read_cmd(cmd) {
            let mut pod = self.replica(read_from).await?;
            return pod.query(cmd).await;
        }
        let mut master = self.master().await?;
        master.query(cmd).await
    }

    /// Reads as a tower service, balanced over the healthy replicas (p2c + PeakEwma).
    pub fn replica_service(&self) -> ReplicaService {
        ReplicaService::new(self)
    }

    /// Writes as a tower service, following the master.
    pub fn master_service(&self) -> MasterService {
        MasterService::new(self.clone())
    }

    /// One pod as a tower service.
    pub fn pod_service(&self, peer: &Peer) -> PodService {
        PodService::new(self.clone(), peer.clone())
    }

    /// The command table in use.
    pub fn commands(&self) -> &CommandTable {
        &self.inner.commands
    }

    /// The current master and a connection to it, waiting up to `failover_wait` for one.
    pub(crate) async fn current_master(&self) -> Result<(Peer, MultiplexedConnection)> {
        let wait = self.inner.config.failover_wait;
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.topology_changes();
        loop {
            let topology = changes.borrow_and_update().clone();
            match &topology.master {
                MasterChoice::One(_) => {
                    if let Some(master) = topology.master() {
                        let peer = master.peer.clone();
                        let conn = self.connection(&peer).await?;
                        return Ok((peer, conn));
                    }
                }
                MasterChoice::Ambiguous(claimants) => {
                    return Err(Error::SplitBrain {
                        service: self.service_name(),
                        masters: claimants
                            .iter()
                            .map(|k| k.as_str().to_owned())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                MasterChoice::None => self.refresh(),
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The prober is gone (it panicked): no master will ever be announced.
                Ok(Err(_closed)) => return Err(Error::Stopped(self.service_name())),
                Err(_elapsed) => {
                    return Err(Error::NoMaster {
                        service: self.service_name(),
                        waited: wait,
                        pods: topology.pods.len(),
                    });
                }
            }
        }
    }

    /// After a wrong-role reply: asks for a probe round, waits (up to `failover_wait`) for
    /// it, and returns the master it names.
    pub(crate) async fn master_after_error(&self) -> Result<(Peer, MultiplexedConnection)> {
        let mut changes = self.topology_changes();
        changes.borrow_and_update();
        self.refresh();
        // The round we asked for, so that the answer is fresh, not the one we acted on.
        let _ = tokio::time::timeout(self.inner.config.failover_wait, changes.changed()).await;
        self.current_master().await
    }

    pub(crate) async fn connection(&self, peer: &Peer) -> Result<MultiplexedConnection> {
        self.inner.connections.get(peer).await
    }

    /// A pod failed at the transport level: reconnect next time, re-probe, re-resolve.
    pub(crate) fn pod_failed(&self, peer: &Peer) {
        self.inner.connections.invalidate(peer);
        self.refresh();
        self.inner.watch.refresh_now();
    }

    pub(crate) fn service_name(&self) -> String {
        self.inner.watch.service().to_string()
    }
}
