//! [`MySqlRouter`]: the handle applications route statements through.

use std::sync::Arc;

use headless_discovery::roles::{ReadPolicy, RoleWatch, Target, Verdict};
use headless_discovery::{Discovery, IntoServiceName, Peer, Watch};
use mysql_async::prelude::Queryable;
use tracing::debug;

use crate::balancer::Balancer;
use crate::classify;
use crate::config::MySqlConfig;
use crate::error::{Error, Result};
use crate::pod::PodConnection;
use crate::pools::{self, Pools};
use crate::probe::MySqlProbe;
use crate::report::ServerReport;
use crate::service::{PodService, PrimaryService, ReplicaService};
use crate::session::{self, OnBreak};
use crate::statement::{Reply, Statement};
use crate::token::ConsistencyToken;
use crate::topology::{PodStatus, Topology};

/// Routes statements to the pods of a MySQL or MariaDB StatefulSet by role. Cheap to
/// clone; clones share one prober, one pool per pod and one read balancer.
///
/// ## Behavior
///
/// - Every discovered pod is asked `@@read_only` and its replica status when it joins,
///   every `probe_interval`, and at once after error 1290 or a lost connection. The
///   primary is the pod that is writable and not replicating, never an ordinal.
/// - [`primary`](Self::primary), [`execute`](Self::execute) and
///   [`execute_with_token`](Self::execute_with_token) follow the primary across
///   failovers. What is known not applied (a 1290/1836 refusal, a dial that failed)
///   waits for the primary a fresh probe round names, up to `failover_wait` in all, and
///   goes there; a statement whose connection broke after it was sent fails as
///   [`Error::OutcomeUnknown`] and is never resent.
/// - [`replica`](Self::replica) and [`query`](Self::query) read per the configured
///   [`ReadPolicy`], balanced over replicas that replicate and are within
///   `max_lag`; [`replica_after`](Self::replica_after) reads your writes.
/// - Pools of pods that leave discovery or move are closed. The prober stops when the
///   last clone is dropped.
#[derive(Clone, Debug)]
pub struct MySqlRouter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    roles: RoleWatch<ServerReport>,
    config: Arc<MySqlConfig>,
    pools: Pools,
    balancer: Balancer,
}

impl MySqlRouter {
    /// Watches `service` with `discovery` and starts routing; returns after the first
    /// probe round, so the first statement already knows the roles.
    ///
    /// # Errors
    ///
    /// [`Error::Discovery`] if the Service cannot be resolved.
    pub async fn connect(
        discovery: &Discovery,
        service: impl IntoServiceName,
        config: MySqlConfig,
    ) -> Result<Self> {
        let watch = discovery.watch(service).await?;
        Ok(Self::from_watch(watch, config).await)
    }

    /// Starts routing over an existing watch; returns after the first probe round.
    pub async fn from_watch(watch: Watch, config: MySqlConfig) -> Self {
        let config = Arc::new(config);
        let pools = Pools::new(Arc::clone(&config));
        let probe = MySqlProbe {
            config: Arc::clone(&config),
            pools: pools.clone(),
        };
        let roles = RoleWatch::start(watch, probe, config.roles.clone()).await;
        let balancer = Balancer::new(
            roles.topology_changes(),
            config.roles.read_policy.clone(),
            pools.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                roles,
                config,
                pools,
                balancer,
            }),
        }
    }

    /// The latest topology: every pod's role, `read_only`, replication threads, lag, GTID
    /// position, latency, and the primary.
    pub fn topology(&self) -> Arc<Topology> {
        self.inner.roles.topology()
    }

    /// The role engine underneath: topology changes, the discovery watch, the leader.
    pub fn roles(&self) -> &RoleWatch<ServerReport> {
        &self.inner.roles
    }

    /// The configuration.
    pub fn config(&self) -> &MySqlConfig {
        &self.inner.config
    }

    /// Asks every pod its role now (debounced), e.g. after an error of your own.
    pub fn refresh(&self) {
        self.inner.roles.refresh();
    }

    /// Tells the router about an error met on a [`PodConnection`]: a 1290 (read-only) or a lost
    /// connection triggers a probe round at once, and a lost connection also a DNS
    /// refresh. Other errors are ignored.
    pub fn observe(&self, error: &mysql_async::Error) {
        self.inner.roles.observe(classify::of(error));
    }

    /// A connection to the current primary (the leader), waiting up to `failover_wait`
    /// for one; a primary that cannot be dialled (refused, timed out) is waited through
    /// the same way. The connection is a session: it stays on that pod.
    ///
    /// # Errors
    ///
    /// [`RoleError::NoLeader`](headless_discovery::roles::RoleError::NoLeader) if none appears in
    /// time; `SplitBrain` if several still claim it then; [`Error::Pod`] for a dial error that
    /// waiting cannot fix (access denied).
    pub async fn leader(&self) -> Result<PodConnection> {
        self.on_leader(|peer| async move { self.conn(&peer).await.map_err(Attempt::of_dial) })
            .await
    }

    /// [`leader`](Self::leader), in MySQL's word.
    ///
    /// # Errors
    ///
    /// As [`leader`](Self::leader).
    pub async fn primary(&self) -> Result<PodConnection> {
        self.leader().await
    }

    /// A connection for reads, per the configured [`ReadPolicy`] (by default a fit replica,
    /// else the primary).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn replica(&self) -> Result<PodConnection> {
        self.read_placed(&self.inner.config.roles.read_policy, true)
            .await
    }

    /// A connection for reads per `policy`. Replicas are balanced (power of two choices
    /// over PeakEwma of how long their connections stay out).
    ///
    /// # Errors
    ///
    /// [`RoleError::NoReadablePod`](headless_discovery::roles::RoleError::NoReadablePod), saying why each pod was left out; [`Error::Pod`] or
    /// [`Error::Timeout`] if the chosen pod cannot be reached.
    pub async fn read(&self, policy: &ReadPolicy) -> Result<PodConnection> {
        self.read_placed(policy, false).await
    }

    /// [`read`](Self::read); `configured` says `policy` is the configured one, whose
    /// replicas the balancer holds by construction (no need to compare the sets).
    async fn read_placed(&self, policy: &ReadPolicy, configured: bool) -> Result<PodConnection> {
        let topology = self.topology();
        let read = self.inner.roles.place(&topology, policy)?;
        let fallback = read.fallback;
        let conn = match &read.target {
            Target::Pod(pod) => self.conn(&pod.peer).await?,
            // Other replicas than the configured policy's (another zone's): one of them,
            // not the balancer, which spreads over the configured policy's.
            Target::Replicas(some) if !configured && !self.balances_over(&topology, some) => {
                match read.one() {
                    Some(pod) => self.conn(&pod.peer).await?,
                    None => return Err(self.inner.roles.unplaceable(&topology, policy).into()),
                }
            }
            Target::Replicas(_) => match self.inner.balancer.checkout() {
                Some(checkout) => checkout.await.map_err(|e| self.balanced_error(e))?,
                // The topology moved on between the placement and the checkout.
                None => return Err(self.inner.roles.unplaceable(&topology, policy).into()),
            },
        };
        Ok(if fallback { conn.into_fallback() } else { conn })
    }

    /// Whether the read balancer spreads over exactly `replicas` in `topology`.
    fn balances_over(&self, topology: &Topology, replicas: &[&PodStatus]) -> bool {
        let balanced = topology.read_replicas(&self.inner.config.roles.read_policy);
        balanced.len() == replicas.len()
            && balanced
                .iter()
                .all(|pod| replicas.iter().any(|other| other.peer == pod.peer))
    }

    /// A connection for reading your writes: a replica (per the configured policy) that
    /// has applied `token`, waiting up to `read_your_writes_wait` for it
    /// (`MASTER_GTID_WAIT` / `WAIT_FOR_EXECUTED_GTID_SET`), else the primary
    /// ([`PodConnection::is_fallback`] says so).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read) and [`primary`](Self::primary).
    pub async fn replica_after(&self, token: &ConsistencyToken) -> Result<PodConnection> {
        if token.is_primary_only() {
            return Ok(self.primary().await?.into_fallback());
        }
        let mut conn = self.replica().await?;
        let is_primary = self
            .topology()
            .leader_pod()
            .is_some_and(|p| p.peer.key() == conn.pod().key());
        if token.is_empty() || is_primary {
            return Ok(conn);
        }
        let wait = self.inner.config.read_your_writes_wait;
        let statement = token.wait_statement(wait.as_secs_f64());
        let bound = wait + self.inner.config.connect_timeout;
        let peer = conn.pod().clone();
        let waited = pools::within(
            bound,
            &peer,
            "GTID wait",
            conn.exec_first::<Option<i64>, _, _>(statement, (token.gtid(),)),
        )
        .await;
        match waited {
            Ok(Some(Some(0))) => Ok(conn),
            outcome => {
                debug!(pod = %peer, gtid = token.gtid(), ?outcome, "replica did not catch up; reading from the primary");
                if let Err(Error::Pod { source, .. }) = &outcome {
                    self.observe(source);
                }
                Ok(self.primary().await?.into_fallback())
            }
        }
    }

    /// Runs a statement on the primary, at most once on a pod that could apply it.
    /// What is known not applied waits for a primary (up to `failover_wait` from the
    /// statement's start) and goes there: a refusal (1290, 1836), a dial that failed (a
    /// pooled connection whose server closed it is found dead at checkout and dialled
    /// anew). Bounded by `query_timeout` per attempt.
    ///
    /// # Errors
    ///
    /// As [`primary`](Self::primary); [`Error::OutcomeUnknown`] (or a reply
    /// [`Error::Timeout`]) if the connection failed after the statement was sent, which
    /// is never resent; or the server's error for the statement.
    pub async fn execute(&self, statement: impl Into<Statement>) -> Result<Reply> {
        let (reply, _conn) = self.execute_keeping(&statement.into()).await?;
        Ok(reply)
    }

    /// [`execute`](Self::execute), keeping the connection that ran it.
    async fn execute_keeping(&self, statement: &Statement) -> Result<(Reply, PodConnection)> {
        self.on_leader(|peer| async move {
            let mut conn = self.conn(&peer).await.map_err(Attempt::of_dial)?;
            let reply = self.send(&mut conn, statement).await?;
            Ok((reply, conn))
        })
        .await
    }

    /// [`execute`](Self::execute), and the write's [`ConsistencyToken`] read on the same
    /// connection right after it (one more round trip), for
    /// [`replica_after`](Self::replica_after) / [`query_after`](Self::query_after). If the
    /// connection breaks between the two, the write stands and the token sends reads to
    /// the primary ([`ConsistencyToken::is_primary_only`]).
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute).
    pub async fn execute_with_token(
        &self,
        statement: impl Into<Statement>,
    ) -> Result<(Reply, ConsistencyToken)> {
        let (reply, mut conn) = self.execute_keeping(&statement.into()).await?;
        let token = match conn.token().await {
            Ok(token) => token,
            Err(error) => {
                if let Error::Pod { source, .. } = &error {
                    self.observe(source);
                }
                debug!(%error, "the write stands but its position is unknown: reads with its token go to the primary");
                ConsistencyToken::primary_only(self.flavor_of(&reply.pod))
            }
        };
        Ok((reply, token))
    }

    /// The flavor `pod` reported in the latest round (MariaDB if it is not known).
    fn flavor_of(&self, pod: &Peer) -> crate::report::Flavor {
        self.topology()
            .pods
            .iter()
            .find(|p| p.peer.key() == pod.key())
            .and_then(|p| p.report.as_ref())
            .map_or(crate::report::Flavor::MariaDb, |r| r.flavor)
    }

    /// Runs `attempt` on the leader; while it fails unapplied, on the leader each fresh
    /// probe round names, within one `failover_wait`.
    async fn on_leader<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut(Peer) -> Fut,
        Fut: Future<Output = std::result::Result<T, Attempt>>,
    {
        let started = tokio::time::Instant::now();
        let mut peer = self.inner.roles.leader().await?;
        let mut resend = None;
        loop {
            let (error, verdict) = match attempt(peer).await {
                Ok(value) => return Ok(value),
                Err(Attempt::Failed(error)) => return Err(error),
                Err(Attempt::NotApplied(error, verdict)) => (error, verdict),
            };
            let resend = resend.get_or_insert_with(|| self.inner.roles.resend(started));
            if resend.is_spent() {
                return Err(error);
            }
            debug!(%error, "not applied: waiting for the primary and sending it there");
            peer = resend.next_leader(verdict).await?;
        }
    }

    /// Runs a read per the configured [`ReadPolicy`]. Bounded by `query_timeout`.
    ///
    /// A read that failed on a replica's connection (the dial failed, the connection
    /// broke, no reply came in time) goes once to another pod its policy allows. That
    /// replica was `read_only` at its last probe, so the statement applied nothing there
    /// (unless your user may write on a read-only server: `SUPER`, `READ ONLY ADMIN`). A
    /// read that broke on the primary (a `ReplicaPreferred` fallback) is not resent.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), or the server's error for the statement.
    pub async fn query(&self, statement: impl Into<Statement>) -> Result<Reply> {
        let statement = statement.into();
        // The roles as the read goes out: once it fails, a probe may already call the
        // pod down, and its report (was it `read_only`?) would be gone.
        let topology = self.topology();
        let error = match self.query_once(&statement).await {
            Err(error) => error,
            reply => return reply,
        };
        let Some(failed) = read_only_pod(&topology, &error) else {
            return Err(error);
        };
        let topology = self.topology();
        let Some((next, _fallback)) = self.inner.roles.place_instead_of(&topology, &failed) else {
            return Err(error);
        };
        debug!(failed = %failed, next = %next.peer, %error, "read sent again to another pod");
        let mut conn = self.conn(&next.peer).await?;
        self.run(&mut conn, &statement).await
    }

    async fn query_once(&self, statement: &Statement) -> Result<Reply> {
        let mut conn = self.replica().await?;
        self.run(&mut conn, statement).await
    }

    /// Runs a read that sees the write `token` came from (see
    /// [`replica_after`](Self::replica_after)).
    ///
    /// # Errors
    ///
    /// As [`replica_after`](Self::replica_after), or the server's error for the statement.
    pub async fn query_after(
        &self,
        token: &ConsistencyToken,
        statement: impl Into<Statement>,
    ) -> Result<Reply> {
        let mut conn = self.replica_after(token).await?;
        self.run(&mut conn, &statement.into()).await
    }

    /// Writes as a tower service: [`execute`](Self::execute).
    pub fn primary_service(&self) -> PrimaryService {
        PrimaryService::new(self.clone())
    }

    /// Reads as a tower service: [`query`](Self::query), balanced over fit replicas.
    pub fn replica_service(&self) -> ReplicaService {
        ReplicaService::new(self.clone())
    }

    /// One pod as a tower service.
    pub fn pod_service(&self, peer: &Peer) -> PodService {
        PodService::new(self.clone(), peer.clone())
    }

    /// A connection from the pod's pool.
    pub(crate) async fn conn(&self, peer: &Peer) -> Result<PodConnection> {
        self.inner.pools.conn(peer).await.inspect_err(|error| {
            self.act_on(error);
        })
    }

    /// Acts on what a failure on a pod says: the driver's error as [`observe`](Self::observe)
    /// does, anything else (a timeout) with a probe round. Returns the driver error's
    /// verdict.
    fn act_on(&self, error: &Error) -> Option<Verdict> {
        match error {
            Error::Pod { source, .. } => {
                let verdict = classify::of(source);
                self.inner.roles.observe(verdict);
                Some(verdict)
            }
            _ => {
                self.refresh();
                None
            }
        }
    }

    /// Runs a statement on a connection you checked out (a session: a transaction, or
    /// the write whose [`token`](PodConnection::token) you want next), within
    /// `query_timeout`. Errors are typed and name the pod, and what they say about it is
    /// acted on (a 1290 re-probes at once, a lost connection re-resolves too), with no
    /// [`observe`](Self::observe) of your own. It is not retried: the connection is yours.
    ///
    /// A lost connection is told apart by what it means for the statement:
    /// - [`Error::SessionLost`]: nothing of it was applied. Either it broke inside a
    ///   transaction before the `COMMIT` (the server rolls the transaction back), or the
    ///   session had sat idle for `session_ping_after` and a ping found the connection
    ///   dead before the statement went out.
    /// - [`Error::OutcomeUnknown`]: it broke after a statement that may have committed
    ///   was sent (a write outside a transaction, the `COMMIT` itself).
    ///
    /// # Errors
    ///
    /// [`Error::Pod`] with the server's or the connection's error; [`Error::Timeout`]
    /// after `query_timeout` (or, for the ping, `connect_timeout`); the two above.
    pub async fn run_on(
        &self,
        conn: &mut PodConnection,
        statement: impl Into<Statement>,
    ) -> Result<Reply> {
        self.run(conn, &statement.into()).await
    }

    /// Runs `statement` on `conn` within `query_timeout`, reporting what the outcome says
    /// about the pod.
    pub(crate) async fn run(
        &self,
        conn: &mut PodConnection,
        statement: &Statement,
    ) -> Result<Reply> {
        let on_break = session::on_break(conn, statement.sql());
        let idle_long = self
            .inner
            .config
            .session_ping_after
            .is_some_and(|after| conn.idle_for() >= after);
        if on_break == OnBreak::Unknown && idle_long {
            self.ping(conn).await?;
        }
        let sent = self.send(conn, statement).await;
        conn.touch();
        match sent {
            Ok(reply) => Ok(reply),
            Err(Attempt::Failed(Error::OutcomeUnknown { pod, source }))
                if on_break == OnBreak::RolledBack =>
            {
                Err(Error::SessionLost { pod, source })
            }
            Err(attempt) => Err(attempt.into_error()),
        }
    }

    /// Checks that a held connection is alive before a statement goes out on it: a
    /// connection found broken is [`Error::SessionLost`], since nothing was sent.
    async fn ping(&self, conn: &mut PodConnection) -> Result<()> {
        let peer = conn.pod().clone();
        let pinged = pools::within(
            self.inner.config.connect_timeout,
            &peer,
            "ping",
            conn.ping(),
        )
        .await;
        pinged.map_err(|error| match (self.act_on(&error), error) {
            (Some(Verdict::Broken), Error::Pod { pod, source }) => {
                Error::SessionLost { pod, source }
            }
            (_, error) => error,
        })
    }

    /// One send of `statement` on `conn`: a refusal is known not applied, a broken
    /// connection after it is an unknown outcome.
    async fn send(
        &self,
        conn: &mut PodConnection,
        statement: &Statement,
    ) -> std::result::Result<Reply, Attempt> {
        let peer = conn.pod().clone();
        let outcome = pools::within(
            self.inner.config.query_timeout,
            &peer,
            "reply",
            statement.run(conn),
        )
        .await;
        outcome
            .map(|result| Reply::new(peer, result))
            .map_err(|error| match (self.act_on(&error), error) {
                (Some(Verdict::NotLeader), error) => Attempt::NotApplied(error, Verdict::NotLeader),
                (Some(Verdict::Broken), Error::Pod { pod, source }) => {
                    Attempt::Failed(Error::OutcomeUnknown { pod, source })
                }
                (_, error) => Attempt::Failed(error),
            })
    }

    fn balanced_error(&self, error: tower::BoxError) -> Error {
        match error.downcast::<Error>() {
            Ok(error) => *error,
            Err(_) => {
                let topology = self.topology();
                self.inner
                    .roles
                    .unplaceable(&topology, &ReadPolicy::Replica)
                    .into()
            }
        }
    }
}

/// The pod a read failed on, when it failed on the connection (a dial that failed, a
/// connection that broke, no reply in time) and the pod was `read_only` at its last probe
/// in `topology`: a statement that reached it applied nothing, so it may go elsewhere.
fn read_only_pod(topology: &Topology, error: &Error) -> Option<Peer> {
    let on_the_connection = match error {
        Error::OutcomeUnknown { .. } | Error::SessionLost { .. } | Error::Timeout { .. } => true,
        Error::Pod { source, .. } => classify::of(source) == Verdict::Broken,
        Error::Discovery(_) | Error::Roles(_) => false,
    };
    let pod = error.pod().filter(|_| on_the_connection)?;
    let report = topology.pod(&pod.key())?.report.as_ref()?;
    (report.read_only || report.super_read_only == Some(true)).then(|| pod.clone())
}

/// How one attempt of a request ended, when it did not succeed.
enum Attempt {
    /// Known not applied: may go to the next primary.
    NotApplied(Error, Verdict),
    /// Final: an error that another pod cannot fix, or an unknown outcome.
    Failed(Error),
}

impl Attempt {
    /// A dial that failed sent nothing: waiting may fix it unless the pod refused us
    /// (access denied, an unknown database).
    fn of_dial(error: Error) -> Self {
        match &error {
            Error::Pod { source, .. } if classify::of(source) == Verdict::Broken => {
                Attempt::NotApplied(error, Verdict::Broken)
            }
            Error::Timeout { .. } => Attempt::NotApplied(error, Verdict::Broken),
            _ => Attempt::Failed(error),
        }
    }

    fn into_error(self) -> Error {
        match self {
            Attempt::NotApplied(error, _) | Attempt::Failed(error) => error,
        }
    }
}
