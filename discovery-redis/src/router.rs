//! [`RedisRouter`]: the handle applications route commands through.

use std::sync::Arc;

use headless_discovery::roles::{ReadPolicy, RoleWatch, Target, Verdict};
use headless_discovery::{Discovery, IntoServiceName, Peer, Watch};
use redis::{Cmd, Value};
use tracing::debug;

use crate::commands::CommandTable;
use crate::config::RedisConfig;
use crate::connections::{Connection, Connections};
use crate::error::{Error, Result};
use crate::leader::LeaderConnection;
use crate::pod::PodConnection;
use crate::probe::RedisProbe;
use crate::reply;
use crate::role::RoleReport;
use crate::service::{MasterService, PodService, ReplicaService};
use crate::topology::Topology;

/// Routes commands to the pods of a Redis StatefulSet by role. Cheap to clone; clones
/// share one prober and one connection per pod.
///
/// ## Behavior
///
/// - Every discovered pod is asked `ROLE` (and `INFO replication`) when it joins, every
///   `probe_interval`, and at once when a command meets `READONLY`, `MASTERDOWN`,
///   `LOADING` or a dropped connection. The master is who the pods say it is, never an
///   ordinal; only discovered pods are ever dialled.
/// - [`master`](Self::master) follows the master across failovers; what is known not
///   applied waits for the new master and goes there, what may have been applied fails
///   as [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown) (see
///   [`LeaderConnection`]).
/// - [`replica`](Self::replica), [`read`](Self::read) and [`route`](Self::route) send
///   reads where a [`ReadPolicy`] says, skipping replicas that are down, loading, cut off
///   from their master or lagging.
/// - The prober stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct RedisRouter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    roles: RoleWatch<RoleReport>,
    config: Arc<RedisConfig>,
    commands: CommandTable,
    connections: Connections,
}

impl RedisRouter {
    /// Watches `service` with `discovery` and starts routing; returns after the first probe
    /// round, so the first command already knows the roles.
    ///
    /// # Errors
    ///
    /// [`Error::Discovery`](crate::Error::Discovery) if the Service cannot be resolved.
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
        let probe = RedisProbe {
            connections: connections.clone(),
        };
        let roles = RoleWatch::start(watch, probe, config.roles.clone()).await;
        Self {
            inner: Arc::new(Inner {
                roles,
                config,
                commands,
                connections,
            }),
        }
    }

    /// The latest topology: every pod's role, offsets, lag, link, latency, and the master.
    pub fn topology(&self) -> Arc<Topology> {
        self.inner.roles.topology()
    }

    /// The role engine underneath: topology changes, the discovery watch, the leader.
    pub fn roles(&self) -> &RoleWatch<RoleReport> {
        &self.inner.roles
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Asks every pod its role now (debounced), e.g. after an error of your own.
    pub fn refresh(&self) {
        self.inner.roles.refresh();
    }

    /// A connection that always points at the current master (the leader). Use it with
    /// redis-rs's `AsyncCommands` or `query_async`. It dials on its first command, so
    /// that a master that cannot be reached is waited through like any other failover.
    ///
    /// # Errors
    ///
    /// [`RoleError::NoLeader`](headless_discovery::roles::RoleError::NoLeader) if no master appears
    /// within `failover_wait`; `SplitBrain` if several still claim it then.
    pub async fn leader(&self) -> Result<LeaderConnection> {
        let peer = self.inner.roles.leader().await?;
        Ok(LeaderConnection::new(self.clone(), peer))
    }

    /// [`leader`](Self::leader), in Redis's word.
    ///
    /// # Errors
    ///
    /// As [`leader`](Self::leader).
    pub async fn master(&self) -> Result<LeaderConnection> {
        self.leader().await
    }

    /// A session on the current master: a connection of its own, which stays on that
    /// pod, for `WATCH` and for a `MULTI`/`EXEC` sent command by command. Every other
    /// connection of the router shares one multiplexed connection per pod, where other
    /// tasks' commands would land inside the transaction (an atomic pipeline,
    /// `redis::pipe().atomic()`, is written in one piece and is safe on any of them).
    /// A master that cannot be dialled (refused, timed out) is waited through, up to
    /// `failover_wait`, like any other failover. Dropping the session closes its
    /// connection.
    ///
    /// # Errors
    ///
    /// As [`leader`](Self::leader); [`Error::Pod`] for a dial error that waiting cannot
    /// fix (credentials refused).
    pub async fn session(&self) -> Result<PodConnection> {
        let started = tokio::time::Instant::now();
        let mut peer = self.inner.roles.leader().await?;
        let mut resend = None;
        loop {
            let error = match crate::connections::connect(&peer, &self.inner.config).await {
                Ok(conn) => return Ok(PodConnection::new(self.clone(), peer, conn, false)),
                Err(error) if error.is_transient() => error,
                Err(error) => return Err(error),
            };
            let resend = resend.get_or_insert_with(|| self.inner.roles.resend(started));
            if resend.is_spent() {
                return Err(error);
            }
            debug!(pod = %peer, %error, "session: the master could not be dialled; waiting for one");
            peer = resend.next_leader(Verdict::Broken).await?;
        }
    }

    /// A connection for reads, per the configured read policy (by default a fit replica,
    /// else the master: [`PodConnection::is_fallback`] says so).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn replica(&self) -> Result<PodConnection> {
        self.read(&self.inner.config.roles.read_policy).await
    }

    /// A connection to a pod chosen by `policy`, for reads; among fit replicas, one at
    /// random, and the next if it cannot be dialled. It shares the pod's multiplexed
    /// connection with the router's other requests: for `WATCH`, or a `MULTI`/`EXEC`
    /// sent command by command, take a [`session`](Self::session).
    ///
    /// # Errors
    ///
    /// [`RoleError::NoReadablePod`](headless_discovery::roles::RoleError::NoReadablePod) (saying why
    /// each pod was left out), or [`Error::Pod`](crate::Error::Pod).
    pub async fn read(&self, policy: &ReadPolicy) -> Result<PodConnection> {
        let topology = self.topology();
        let read = self.inner.roles.place(&topology, policy)?;
        let first = match read.one() {
            Some(pod) => pod.peer.clone(),
            None => return Err(self.inner.roles.unplaceable(&topology, policy).into()),
        };
        // A replica that cannot be dialled (its pod going away) gives way to the next fit
        // one: nothing was sent, and a read can go anywhere its policy allows.
        let others = match &read.target {
            Target::Replicas(replicas) => replicas
                .iter()
                .map(|pod| pod.peer.clone())
                .filter(|peer| *peer != first)
                .collect(),
            Target::Pod(_) => Vec::new(),
        };
        let mut dial_error = None;
        for peer in std::iter::once(first).chain(others) {
            match self.connection(&peer).await {
                Ok(conn) => {
                    return Ok(PodConnection::new(self.clone(), peer, conn, read.fallback));
                }
                Err(error) if error.is_transient() => dial_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(dial_error.unwrap_or_else(|| self.inner.roles.unplaceable(&topology, policy).into()))
    }

    /// Sends one command where it belongs: reads (per the [`CommandTable`]) per the
    /// configured read policy, everything else to the master.
    ///
    /// A read whose pod's connection failed (the dial, a break, no reply in time) goes
    /// once to another pod the policy allows: the table's commands apply nothing.
    ///
    /// # Errors
    ///
    /// As [`master`](Self::master) or [`read`](Self::read), or the server's reply error.
    pub async fn route(&self, cmd: &Cmd) -> Result<Value> {
        if self.inner.commands.is_read_cmd(cmd) {
            let first = async { self.replica().await?.query(cmd).await }.await;
            return match first {
                Err(error) => self.read_elsewhere(cmd, error).await,
                value => value,
            };
        }
        let mut master = self.master().await?;
        master.query(cmd).await
    }

    /// After the read `cmd` failed with `error`: when the pod's connection failed, `cmd`
    /// once more on another pod the configured policy allows; else `error`. For commands
    /// of the [`CommandTable`] only, which apply nothing wherever they reached.
    pub(crate) async fn read_elsewhere(&self, cmd: &Cmd, error: Error) -> Result<Value> {
        let failed = match &error {
            Error::Pod { pod, source } if reply::of_error(source) == Verdict::Broken => pod,
            _ => return Err(error),
        };
        let topology = self.topology();
        let Some((next, fallback)) = self.inner.roles.place_instead_of(&topology, failed) else {
            return Err(error);
        };
        let next = next.peer.clone();
        debug!(failed = %failed, next = %next, %error, "read sent again to another pod");
        let conn = self.connection(&next).await?;
        PodConnection::new(self.clone(), next, conn, fallback)
            .query(cmd)
            .await
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

    /// The pod's connection, dialled if there is none or its socket is known dead. A
    /// dial that fails says the pod may be gone: a probe round and a DNS refresh now.
    pub(crate) async fn connection(&self, peer: &Peer) -> Result<Connection> {
        let dialled = self.inner.connections.get(peer).await;
        if let Err(crate::Error::Pod { source, .. }) = &dialled {
            self.observe(peer, crate::reply::of_error(source));
        }
        dialled
    }

    /// Acts on what a reply from `peer` said: re-probe when roles may have moved; when
    /// the pod may be gone, also reconnect next time and re-resolve.
    pub(crate) fn observe(&self, peer: &Peer, verdict: Verdict) {
        if verdict.pod_lost() {
            self.inner.connections.invalidate(peer);
        }
        self.inner.roles.observe(verdict);
    }

    pub(crate) fn service_name(&self) -> String {
        self.inner.roles.service()
    }
}
