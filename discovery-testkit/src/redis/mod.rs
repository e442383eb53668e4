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
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::process::ServerProcess;
use crate::servers::{self, Upstream};
use crate::tls::TestCa;
use crate::{Cluster, Error, StatefulSet, StatefulSetSpec};

/// The port every Redis pod listens on.
pub const REDIS_PORT: u16 = 6379;
/// How long a pod may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What Redis StatefulSet to run.
#[derive(Clone)]
pub struct RedisSpec {
    name: String,
    namespace: String,
    replicas: u32,
    start_ordinal: u32,
    password: Option<String>,
    tls: bool,
}

impl std::fmt::Debug for RedisSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSpec")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("replicas", &self.replicas)
            .field("start_ordinal", &self.start_ordinal)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

impl RedisSpec {
    /// StatefulSet and headless Service `name` in namespace `default`, 3 pods, the first the
    /// master, no password.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: "default".to_owned(),
            replicas: 3,
            start_ordinal: 0,
            password: None,
            tls: false,
        }
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// How many pods.
    #[must_use]
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// The first ordinal.
    #[must_use]
    pub fn start_ordinal(mut self, start: u32) -> Self {
        self.start_ordinal = start;
        self
    }

    /// Require this password (`requirepass`, and `masterauth` for replication).
    #[must_use]
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Serve TLS only on 6379 (replication too), each pod with a certificate from a
    /// [`TestCa`] naming its FQDN and hostname.
    #[must_use]
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

/// A running Redis StatefulSet. Every process is killed when this is dropped.
pub struct RedisStatefulSet {
    set: StatefulSet,
    dir: PathBuf,
    password: Option<String>,
    ca: Option<TestCa>,
    state: Mutex<Pods>,
}

#[derive(Debug, Default)]
struct Pods {
    processes: BTreeMap<u32, ServerProcess>,
    upstream: BTreeMap<u32, Upstream>,
}

impl std::fmt::Debug for RedisStatefulSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStatefulSet")
            .field("set", &self.set.name())
            .field("dir", &self.dir)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl RedisStatefulSet {
    /// Declares the StatefulSet in `cluster` (named port `redis`, 6379) and starts one
    /// `redis-server` per pod; the first ordinal is the master, the others replicate it.
    /// Returns once every pod answers and every replica's link is up.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if `redis-server` is missing or a pod does not come up in time.
    pub async fn start(cluster: &Cluster, spec: RedisSpec) -> Result<Self, Error> {
        let set = cluster.statefulset(
            StatefulSetSpec::new(&spec.name)
                .namespace(&spec.namespace)
                .port("redis", REDIS_PORT)
                .replicas(spec.replicas)
                .start_ordinal(spec.start_ordinal),
        )?;
        let dir = servers::scratch_dir("redis", &set)?;
        let ca = if spec.tls { Some(TestCa::new()?) } else { None };
        let this = Self {
            set,
            dir,
            password: spec.password,
            ca,
            state: Mutex::new(Pods::default()),
        };
        let first = spec.start_ordinal;
        for pod in this.set.pods() {
            let upstream = if pod.ordinal == first {
                Upstream::None
            } else {
                Upstream::Of(first)
            };
            this.state().upstream.insert(pod.ordinal, upstream);
            this.spawn(pod.ordinal)?;
        }
        for pod in this.set.pods() {
            this.wait_until_up(pod.ordinal).await?;
        }
        this.wait_for_replication().await?;
        Ok(this)
    }

    /// The StatefulSet as DNS sees it (scale, readiness, pod addresses).
    pub fn statefulset(&self) -> &StatefulSet {
        &self.set
    }

    /// The CA that signed the pods' certificates, when the set serves TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::cert_pem)
    }

    /// The name to give discovery: `_redis._tcp.<name>.<namespace>`.
    pub fn service_name(&self) -> String {
        format!("_redis._tcp.{}.{}", self.set.name(), self.set.namespace())
    }

    /// The pod's address (IP, port 6379).
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn addr(&self, ordinal: u32) -> Result<SocketAddr, Error> {
        Ok(SocketAddr::new(self.ip(ordinal)?, REDIS_PORT))
    }

    /// A direct connection to one pod, for setting up and checking tests.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if the pod does not answer.
    pub async fn connect(&self, ordinal: u32) -> Result<MultiplexedConnection, Error> {
        pod::connect(
            self.addr(ordinal)?,
            self.password.as_deref(),
            self.ca.is_some(),
        )
        .await
    }

    /// Kills the pod's server (SIGKILL) and marks the pod unready, as Kubernetes does once
    /// its readiness probe fails.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn kill(&self, ordinal: u32) -> Result<(), Error> {
        if let Some(mut process) = self.state().processes.remove(&ordinal) {
            process.kill();
        }
        self.set.set_ready(ordinal, false)
    }

    /// Starts a killed pod again at the same address, as a replica of the pod it followed
    /// last (or as a master if it was one), and marks it ready once it answers.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if it does not come up.
    pub async fn restart(&self, ordinal: u32) -> Result<(), Error> {
        if self.state().processes.contains_key(&ordinal) {
            return Err(Error::Spec(format!(
                "redis pod {ordinal} is running; kill it first"
            )));
        }
        self.spawn(ordinal)?;
        self.wait_until_up(ordinal).await?;
        self.set.set_ready(ordinal, true)
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
        let others: Vec<u32> = {
            let mut state = self.state();
            state.upstream.insert(ordinal, Upstream::None);
            // A killed pod restarts as a replica of the new master, never as a second
            // master with an empty dataset (as the MariaDB set does); a frozen one follows
            // it once it is told to (`rejoin`).
            let unreachable: Vec<u32> = state
                .upstream
                .keys()
                .copied()
                .filter(|o| *o != ordinal && !servers::answers(&state.processes, *o))
                .collect();
            for pod in unreachable {
                state.upstream.insert(pod, Upstream::Of(ordinal));
            }
            state
                .processes
                .keys()
                .copied()
                .filter(|o| *o != ordinal && servers::answers(&state.processes, *o))
                .collect()
        };
        for other in others {
            self.repoint(other, ordinal, ip).await?;
        }
        Ok(())
    }

    /// A planned switchover to `ordinal`, done the safe way, so that no acknowledged write
    /// is lost: writes paused on the current master (`CLIENT PAUSE WRITE`), the candidate
    /// caught up with its offset, the candidate promoted and every other pod (the old
    /// master too) repointed to it, then the pause lifted: clients still on the old master
    /// now meet `READONLY` instead of writing where nobody reads.
    ///
    /// The one place these steps live: the examples' drill and the tests share them.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if no other pod is master; [`Error::Process`] if the candidate does
    /// not catch up within `pause` (writes resume on the old master, nothing is promoted)
    /// or a command fails.
    pub async fn switchover(&self, ordinal: u32, pause: Duration) -> Result<(), Error> {
        let old = {
            let state = self.state();
            state
                .upstream
                .iter()
                .find(|(o, u)| {
                    **u == Upstream::None && **o != ordinal && state.processes.contains_key(o)
                })
                .map(|(o, _)| *o)
                .ok_or_else(|| Error::Spec("no other running redis master to switch from".into()))?
        };
        let mut master = self.connect(old).await?;
        let millis = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(millis)
            .arg("WRITE")
            .query_async(&mut master)
            .await
            .map_err(|e| Error::Process(format!("CLIENT PAUSE WRITE on redis pod {old}: {e}")))?;
        let caught_up = async {
            let offset = pod::info_number(&mut master, "master_repl_offset")
                .await?
                .unwrap_or(0);
            let mut candidate = self.connect(ordinal).await?;
            pod::wait_for_offset(&mut candidate, offset, pause)
                .await
                .map_err(|e| Error::Process(format!("redis pod {ordinal}: {e}")))
        }
        .await;
        if let Err(error) = caught_up {
            let _: Result<(), _> = redis::cmd("CLIENT")
                .arg("UNPAUSE")
                .query_async(&mut master)
                .await;
            return Err(error);
        }
        self.promote(ordinal).await?;
        let _: () = redis::cmd("CLIENT")
            .arg("UNPAUSE")
            .query_async(&mut master)
            .await
            .map_err(|e| Error::Process(format!("CLIENT UNPAUSE on redis pod {old}: {e}")))?;
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
        let master = {
            let state = self.state();
            state
                .upstream
                .iter()
                .find(|(o, u)| **u == Upstream::None && state.processes.contains_key(o))
                .map(|(o, _)| *o)
                .ok_or_else(|| Error::Spec("no running redis master to replicate".into()))?
        };
        let replicas = u32::try_from(self.set.pods().len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.set.scale(replicas)?;
        let ordinal = self
            .set
            .pods()
            .last()
            .map(|p| p.ordinal)
            .ok_or_else(|| Error::Spec("the scaled set has no pods".into()))?;
        // Not ready in DNS until the server answers, as a readiness probe would have it.
        self.set.set_ready(ordinal, false)?;
        self.state().upstream.insert(ordinal, Upstream::Of(master));
        self.spawn(ordinal)?;
        self.wait_until_up(ordinal).await?;
        self.set.set_ready(ordinal, true)?;
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

    /// Freezes the pod's server (SIGSTOP): connections hang instead of failing.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if it is not running or the signal fails.
    pub fn freeze(&self, ordinal: u32) -> Result<(), Error> {
        self.with_process(ordinal, ServerProcess::freeze)
    }

    /// Lets a frozen pod run again (SIGCONT).
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if it is not running or the signal fails.
    pub fn thaw(&self, ordinal: u32) -> Result<(), Error> {
        self.with_process(ordinal, ServerProcess::thaw)
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
            let replicas = state
                .processes
                .keys()
                .filter_map(|o| match state.upstream.get(o) {
                    Some(Upstream::Of(master)) if state.processes.contains_key(master) => {
                        Some((*o, *master))
                    }
                    _ => None,
                })
                .collect();
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
        let dir = self.dir.join(ordinal.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Process(format!("creating {}: {e}", dir.display())))?;
        let tls = match &self.ca {
            Some(ca) => Some(ca.write_pod_files(&dir, &self.fqdn(ordinal)?, ip)?),
            None => None,
        };
        let process = pod::spawn(ip, &dir, upstream, self.password.as_deref(), tls.as_ref())?;
        self.state().processes.insert(ordinal, process);
        Ok(())
    }

    async fn wait_until_up(&self, ordinal: u32) -> Result<(), Error> {
        let addr = self.addr(ordinal)?;
        pod::wait_until_up(
            addr,
            self.password.as_deref(),
            self.ca.is_some(),
            START_TIMEOUT,
        )
        .await
        .map_err(|e| Error::Process(format!("redis pod {ordinal} at {addr}: {e}")))
    }

    fn with_process(
        &self,
        ordinal: u32,
        f: impl FnOnce(&ServerProcess) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        servers::signal(&self.state().processes, "redis", ordinal, f)
    }

    fn fqdn(&self, ordinal: u32) -> Result<String, Error> {
        servers::pod_fqdn(&self.set, "redis", ordinal)
    }

    fn ip(&self, ordinal: u32) -> Result<IpAddr, Error> {
        servers::pod_ip(&self.set, "redis", ordinal)
    }

    fn state(&self) -> MutexGuard<'_, Pods> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `redis-server` can be found (for demos that fall back to DNS alone when it is
/// not).
pub fn available() -> bool {
    crate::process::find_program("redis-server").is_some()
}

impl Drop for RedisStatefulSet {
    fn drop(&mut self) {
        self.state().processes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
