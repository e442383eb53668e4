//! A Redis StatefulSet of real `redis-server` processes, one per pod, each listening on its
//! own loopback pod address at port 6379 as in Kubernetes, with replication wired and the
//! pods published in the cluster's DNS.
//!
//! ```no_run
//! use headless_discovery_testkit::Cluster;
//! use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
//!
//! # async fn demo() -> Result<(), headless_discovery_testkit::Error> {
//! let cluster = Cluster::builder().ttl(1).start().await?;
//! let redis = RedisStatefulSet::start(&cluster, RedisSpec::new("redis").replicas(3)).await?;
//! redis.kill(0)?;             // SIGKILL the master, its pod turns unready
//! redis.promote(1).await?;    // REPLICAOF NO ONE on redis-1, repoint redis-2
//! redis.restart(0).await?;    // back as a replica of redis-1
//! # Ok(()) }
//! ```

mod pod;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::scripts::Script;
use crate::servers::{Redacted, Server, ServerSet, ServerSpec, Upstream};
use crate::{Cluster, Error};

/// The port every Redis pod listens on.
pub const REDIS_PORT: u16 = 6379;
/// How long a pod may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Redis's own settings in a [`RedisSpec`]: no password unless one is set.
#[derive(Clone, Debug, Default)]
pub struct Redis {
    password: Option<Redacted>,
}

impl Server for Redis {
    const KIND: &'static str = "redis";
    const PORT_NAME: &'static str = "redis";
    const PORT: u16 = REDIS_PORT;
}

/// What Redis StatefulSet to run: `RedisSpec::new("redis").replicas(3)`, TLS served only
/// on 6379 when asked.
pub type RedisSpec = ServerSpec<Redis>;

impl RedisSpec {
    /// Require this password (`requirepass`, and `masterauth` for replication).
    #[must_use]
    pub fn password(mut self, password: &str) -> Self {
        self.server.password = Some(Redacted(password.to_owned()));
        self
    }
}

/// A running Redis StatefulSet. Every process is killed when this is dropped.
pub type RedisStatefulSet = ServerSet<Redis>;

impl RedisStatefulSet {
    /// Declares the StatefulSet in `cluster` (named port `redis`, 6379) and starts one
    /// `redis-server` per pod; the first ordinal is the master, the others replicate it.
    /// Returns once every pod answers and every replica's link is up.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if `redis-server` is missing or a pod does not come up in time.
    pub async fn start(cluster: &Cluster, spec: RedisSpec) -> Result<Self, Error> {
        let this = Self::declare(cluster, spec)?;
        for pod in this.statefulset().pods() {
            this.spawn(pod.ordinal)?;
        }
        for pod in this.statefulset().pods() {
            this.wait_until_up(pod.ordinal).await?;
        }
        this.wait_for_replication().await?;
        Ok(this)
    }

    /// A direct connection to one pod, for setting up and checking tests.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if the pod does not answer.
    pub async fn connect(&self, ordinal: u32) -> Result<MultiplexedConnection, Error> {
        pod::connect(self.addr(ordinal)?, self.password(), self.ca().is_some()).await
    }

    /// Starts a killed pod again at the same address, as a replica of the pod it followed
    /// last (or as a master if it was one), and marks it ready once it answers.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if it does not come up.
    pub async fn restart(&self, ordinal: u32) -> Result<(), Error> {
        self.ensure_stopped(ordinal)?;
        self.spawn(ordinal)?;
        self.wait_until_up(ordinal).await?;
        self.statefulset().set_ready(ordinal, true)
    }

    /// Promotes a replica: `REPLICAOF NO ONE` on it, then `REPLICAOF <it>` on every other
    /// running pod (the old master included, if it runs), as Sentinel or an operator would.
    /// Killed pods restart as its replicas. A frozen pod cannot be told: it wakes up in
    /// its old role (a frozen old master as a second master, with no fencing) until
    /// [`rejoin`](Self::rejoin) repoints it, as Sentinel does once it sees it again.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if a command fails.
    pub async fn promote(&self, ordinal: u32) -> Result<(), Error> {
        let mut new_master = self.connect(ordinal).await?;
        pod::replicaof(&mut new_master, None).await?;
        let ip = self.ip(ordinal)?;
        // A killed pod restarts as a replica of the new master, never as a second master
        // with an empty dataset (as the MariaDB set does); a frozen one follows it once it
        // is told to (`rejoin`).
        let others = self.state().promoted(ordinal);
        for other in others {
            self.repoint(other, ordinal, ip).await?;
        }
        Ok(())
    }

    /// A planned switchover to `ordinal`, done the safe way, so that no acknowledged write
    /// is lost: writes paused on the current master (`CLIENT PAUSE WRITE` for `pause`),
    /// the candidate caught up with its offset within half of it, the candidate promoted
    /// and every other running pod (the old master too) repointed to it, then the pause
    /// lifted: clients still on the old master now meet `READONLY` instead of writing
    /// where nobody reads.
    ///
    /// These steps are the example manifests' own `switchover.sh` (the `redis` ConfigMap
    /// of `examples/k8s/redis.yaml`), run here with `sh` and `redis-cli` against the
    /// pods' addresses: the drill users run on minikube, the pod runner's and the soak's
    /// switchovers are one script.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if no other pod is master; [`Error::Process`] if the candidate does
    /// not catch up in time (writes resume on the old master, nothing is promoted) or a
    /// command fails, with what the script printed.
    pub async fn switchover(&self, ordinal: u32, pause: Duration) -> Result<(), Error> {
        // The pods a Service's DNS would publish (a frozen pod cannot be told anything).
        let peers: Vec<u32> = {
            let state = self.state();
            if state.running_leaders(Some(ordinal)).is_empty() {
                return Err(Error::Spec(
                    "no other running redis master to switch from".into(),
                ));
            }
            let running = state.processes.keys().copied();
            running
                .filter(|o| *o != ordinal && state.answers(*o))
                .collect()
        };
        let peers = peers
            .into_iter()
            .map(|o| self.ip(o).map(|ip| ip.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let ip = self.ip(ordinal)?.to_string();
        let mut env = vec![
            ("REDIS_PORT", REDIS_PORT.to_string()),
            ("SWITCHOVER_SELF", ip.clone()),
            ("SWITCHOVER_NAME", ip),
            ("SWITCHOVER_PEERS", peers.join(" ")),
            ("SWITCHOVER_PAUSE_MS", pause.as_millis().max(1).to_string()),
        ];
        if let Some(password) = self.password() {
            env.push(("REDISCLI_AUTH", password.to_owned()));
        }
        if let Some(ca) = self.ca_file()? {
            env.push(("REDIS_TLS_CA", ca.display().to_string()));
        }
        let out = Script::redis_switchover()?.run(&[], &env).await?;
        tracing::debug!(pod = ordinal, %out, "redis switchover");
        self.state().promoted(ordinal);
        Ok(())
    }

    /// Scales the StatefulSet up by one pod: a new `redis-server` replicating the current
    /// master, published in DNS once it answers, as a StatefulSet controller would.
    /// Returns its ordinal.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if it does not come up; [`Error::Spec`] if no pod is master.
    pub async fn add_replica(&self) -> Result<u32, Error> {
        let master = self
            .state()
            .running_leaders(None)
            .first()
            .copied()
            .ok_or_else(|| Error::Spec("no running redis master to replicate".into()))?;
        let set = self.statefulset();
        let replicas = u32::try_from(set.pods().len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        set.scale(replicas)?;
        let ordinal = set
            .pods()
            .last()
            .map(|p| p.ordinal)
            .ok_or_else(|| Error::Spec("the scaled set has no pods".into()))?;
        // Not ready in DNS until the server answers, as a readiness probe would have it.
        self.statefulset().set_ready(ordinal, false)?;
        self.state().upstream.insert(ordinal, Upstream::Of(master));
        self.spawn(ordinal)?;
        self.wait_until_up(ordinal).await?;
        self.statefulset().set_ready(ordinal, true)?;
        Ok(ordinal)
    }

    /// Makes one pod replicate `master` (`REPLICAOF`), behind everyone's back: DNS does not
    /// change. Use it to demote a master without promoting anyone else.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if the command fails.
    pub async fn make_replica_of(&self, ordinal: u32, master: u32) -> Result<(), Error> {
        let ip = self.ip(master)?;
        self.repoint(ordinal, master, ip).await
    }

    /// Makes a pod that missed a failover (frozen through it) replicate the master it
    /// should follow now. A thawed old master still calls itself master and takes writes
    /// until this runs; its full resync then drops them, as it would in a real cluster.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if the pod should be a master; [`Error::Process`] if the command
    /// fails.
    pub async fn rejoin(&self, ordinal: u32) -> Result<(), Error> {
        let upstream = self.state().upstream.get(&ordinal).copied();
        match upstream {
            Some(Upstream::Of(master)) => self.make_replica_of(ordinal, master).await,
            _ => Err(Error::Spec(format!(
                "redis pod {ordinal} is the master; there is nothing to rejoin"
            ))),
        }
    }

    /// Waits until every running replica has its master link up and has processed
    /// everything its master had written when this was called.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if that does not happen within 10 s.
    pub async fn wait_for_replication(&self) -> Result<(), Error> {
        let (replicas, masters): (Vec<(u32, u32)>, Vec<u32>) = {
            let state = self.state();
            let replicas = state.running_replicas();
            let masters = state
                .processes
                .keys()
                .copied()
                .filter(|o| state.upstream.get(o) == Some(&Upstream::None))
                .collect();
            (replicas, masters)
        };
        let mut offsets = BTreeMap::new();
        for master in masters {
            let mut conn = self.connect(master).await?;
            let offset = pod::info_number(&mut conn, "master_repl_offset").await?;
            offsets.insert(master, offset.unwrap_or(0));
        }
        for (ordinal, master) in &replicas {
            let mut conn = self.connect(*ordinal).await?;
            let target = offsets.get(master).copied().unwrap_or(0);
            pod::wait_for_offset(&mut conn, target, START_TIMEOUT)
                .await
                .map_err(|e| Error::Process(format!("redis pod {ordinal}: {e}")))?;
        }
        // A link that is up is not yet a stream that flows: after a diskless full sync,
        // Redis 7 sends a replica nothing until its next REPLCONF ACK (up to 1 s later).
        // A marker write acknowledged by every replica (WAIT) proves the stream flows.
        for master in offsets.keys() {
            let expected = replicas.iter().filter(|(_, m)| m == master).count();
            if expected == 0 {
                continue;
            }
            let mut conn = self.connect(*master).await?;
            pod::wait_for_acks(&mut conn, expected, START_TIMEOUT)
                .await
                .map_err(|e| Error::Process(format!("redis pod {master}: {e}")))?;
        }
        Ok(())
    }

    async fn repoint(&self, ordinal: u32, master: u32, ip: IpAddr) -> Result<(), Error> {
        let mut conn = self.connect(ordinal).await?;
        pod::replicaof(&mut conn, Some(SocketAddr::new(ip, REDIS_PORT))).await?;
        self.state().upstream.insert(ordinal, Upstream::Of(master));
        Ok(())
    }

    fn spawn(&self, ordinal: u32) -> Result<(), Error> {
        let ip = self.ip(ordinal)?;
        let upstream = match self.state().upstream.get(&ordinal) {
            Some(Upstream::Of(master)) => Some(SocketAddr::new(self.ip(*master)?, REDIS_PORT)),
            _ => None,
        };
        let dir = self.create_pod_dir(ordinal)?;
        let tls = self.pod_tls(ordinal)?;
        let process = pod::spawn(ip, &dir, upstream, self.password(), tls.as_ref())?;
        self.started(ordinal, process);
        Ok(())
    }

    async fn wait_until_up(&self, ordinal: u32) -> Result<(), Error> {
        let addr = self.addr(ordinal)?;
        pod::wait_until_up(addr, self.password(), self.ca().is_some(), START_TIMEOUT)
            .await
            .map_err(|e| Error::Process(format!("redis pod {ordinal} at {addr}: {e}")))
    }

    fn password(&self) -> Option<&str> {
        self.server.password.as_ref().map(|p| p.0.as_str())
    }
}

/// Whether `redis-server` can be found (for demos that fall back to DNS alone when it is
/// not).
pub fn available() -> bool {
    crate::process::find_program("redis-server").is_some()
}
