//! What the testkit's StatefulSets of real servers (Redis, MariaDB) share: the spec's
//! shape, one scratch directory per set, the pods' processes and whom each replicates,
//! the faults tests inject (kill, freeze, thaw), and pod lookups that fail with the
//! ordinal named. Each server's module adds only what its protocol needs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::process::ServerProcess;
use crate::tls::TestCa;
use crate::{Cluster, Error, StatefulSet, StatefulSetSpec};

mod sealed {
    pub trait Sealed {}
}

/// A server the testkit runs as StatefulSet pods: [`Redis`](crate::redis::Redis) or
/// [`MariaDb`](crate::mysql::MariaDb). The value holds the server's own settings
/// (passwords, users), kept by the [`ServerSpec`] and then by the running [`ServerSet`].
pub trait Server: sealed::Sealed + Clone + Default + fmt::Debug + Send + Sync + 'static {
    /// What its pods are called in errors and scratch directories (`redis`, `mariadb`).
    const KIND: &'static str;
    /// The Service's named port, the `_<name>._tcp` of its SRV records.
    const PORT_NAME: &'static str;
    /// The port every pod listens on, on its own IP, as in Kubernetes.
    const PORT: u16;
}

/// A password in a server's settings: `<redacted>` in Debug output.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Redacted(pub(crate) String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(feature = "redis")]
impl sealed::Sealed for crate::redis::Redis {}
#[cfg(feature = "mysql")]
impl sealed::Sealed for crate::mysql::MariaDb {}

/// What StatefulSet of `S` servers to run: its name and shape, shared by every server,
/// plus the server's own settings (see the methods on [`RedisSpec`](crate::redis::RedisSpec)
/// and [`MariaDbSpec`](crate::mysql::MariaDbSpec)).
#[derive(Clone, Debug)]
pub struct ServerSpec<S> {
    /// The StatefulSet and its Service; the server's named port is added when it starts.
    pub(crate) set: StatefulSetSpec,
    tls: bool,
    pub(crate) server: S,
}

impl<S: Server> ServerSpec<S> {
    /// StatefulSet and headless Service `name` in namespace `default`, 3 pods, the first
    /// the leader (master, primary), the server's default settings.
    pub fn new(name: &str) -> Self {
        Self {
            set: StatefulSetSpec::new(name).replicas(3),
            tls: false,
            server: S::default(),
        }
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.set = self.set.namespace(namespace);
        self
    }

    /// How many pods.
    #[must_use]
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.set = self.set.replicas(replicas);
        self
    }

    /// The first ordinal.
    #[must_use]
    pub fn start_ordinal(mut self, start: u32) -> Self {
        self.set = self.set.start_ordinal(start);
        self
    }

    /// Spreads the pods over zones, as [`StatefulSetSpec::zones`] does (the API source
    /// reports them).
    #[must_use]
    pub fn zones(mut self, zones: &[&str]) -> Self {
        self.set = self.set.zones(zones);
        self
    }

    /// Require TLS on the server's port (replication too), each pod with a certificate
    /// from a [`TestCa`] naming its FQDN and hostname.
    #[must_use]
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

/// Who a pod replicates from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// Nobody: a master or primary.
    None,
    /// The pod with this ordinal.
    Of(u32),
}

/// The pods' processes and replication, changed together under one lock.
#[derive(Debug, Default)]
pub(crate) struct Pods {
    pub(crate) processes: BTreeMap<u32, ServerProcess>,
    pub(crate) upstream: BTreeMap<u32, Upstream>,
    /// Pods that may hold writes the current leader never got (killed or frozen while
    /// leader, or ahead of a promoted replica). MariaDB rebuilds them as clones; Redis's
    /// full resync drops those writes by itself.
    pub(crate) needs_clone: BTreeSet<u32>,
}

impl Pods {
    /// Whether the pod runs and is not frozen: only then can it be asked or told anything.
    pub(crate) fn answers(&self, ordinal: u32) -> bool {
        self.processes.get(&ordinal).is_some_and(|p| !p.is_frozen())
    }

    /// The running leaders other than `except` (one, unless a test split the brain).
    pub(crate) fn running_leaders(&self, except: Option<u32>) -> Vec<u32> {
        self.upstream
            .iter()
            .filter(|(o, u)| {
                **u == Upstream::None && Some(**o) != except && self.processes.contains_key(o)
            })
            .map(|(o, _)| *o)
            .collect()
    }

    /// Records `ordinal` as the leader and every other pod as its replica; returns those
    /// that answer, to be told so (the others follow once restarted or rejoined).
    pub(crate) fn promoted(&mut self, ordinal: u32) -> Vec<u32> {
        let others: Vec<u32> = self
            .upstream
            .keys()
            .copied()
            .filter(|o| *o != ordinal)
            .collect();
        self.upstream.insert(ordinal, Upstream::None);
        for other in &others {
            self.upstream.insert(*other, Upstream::Of(ordinal));
        }
        others.into_iter().filter(|o| self.answers(*o)).collect()
    }

    /// Every running replica with the running pod it follows.
    pub(crate) fn running_replicas(&self) -> Vec<(u32, u32)> {
        self.processes
            .keys()
            .filter_map(|o| match self.upstream.get(o) {
                Some(Upstream::Of(leader)) if self.processes.contains_key(leader) => {
                    Some((*o, *leader))
                }
                _ => None,
            })
            .collect()
    }
}

/// A running StatefulSet of `S` servers, one process per pod on the pod's own loopback
/// address. Every process is killed, and its files removed, when this is dropped (also
/// on a panic).
pub struct ServerSet<S: Server> {
    set: StatefulSet,
    dir: PathBuf,
    ca: Option<TestCa>,
    pub(crate) server: S,
    state: Mutex<Pods>,
}

impl<S: Server> fmt::Debug for ServerSet<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSet")
            .field("set", &self.set.name())
            .field("dir", &self.dir)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<S: Server> ServerSet<S> {
    /// Declares the StatefulSet in `cluster` (with `S`'s named port) and its scratch
    /// directory, the first ordinal the leader and the others its replicas; no process
    /// runs yet.
    pub(crate) fn declare(cluster: &Cluster, spec: ServerSpec<S>) -> Result<Self, Error> {
        let first = spec.set.start_ordinal;
        let set = cluster.statefulset(spec.set.port(S::PORT_NAME, S::PORT))?;
        let dir = scratch_dir(S::KIND, &set)?;
        let ca = if spec.tls { Some(TestCa::new()?) } else { None };
        let upstream = set
            .pods()
            .iter()
            .map(|pod| {
                let upstream = if pod.ordinal == first {
                    Upstream::None
                } else {
                    Upstream::Of(first)
                };
                (pod.ordinal, upstream)
            })
            .collect();
        Ok(Self {
            set,
            dir,
            ca,
            server: spec.server,
            state: Mutex::new(Pods {
                upstream,
                ..Pods::default()
            }),
        })
    }

    /// The StatefulSet as DNS sees it (scale, readiness, pod addresses).
    pub fn statefulset(&self) -> &StatefulSet {
        &self.set
    }

    /// The CA that signed the pods' certificates, when the set serves TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::cert_pem)
    }

    /// The name to give discovery: `_<port>._tcp.<name>.<namespace>`.
    pub fn service_name(&self) -> String {
        format!(
            "_{}._tcp.{}.{}",
            S::PORT_NAME,
            self.set.name(),
            self.set.namespace()
        )
    }

    /// The pod's address (IP, the server's port).
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn addr(&self, ordinal: u32) -> Result<SocketAddr, Error> {
        Ok(SocketAddr::new(self.ip(ordinal)?, S::PORT))
    }

    /// Kills the pod's server (SIGKILL) and marks the pod unready, as Kubernetes does once
    /// its readiness probe fails.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn kill(&self, ordinal: u32) -> Result<(), Error> {
        let mut state = self.state();
        if let Some(mut process) = state.processes.remove(&ordinal) {
            process.kill();
            if state.upstream.get(&ordinal) == Some(&Upstream::None) {
                state.needs_clone.insert(ordinal);
            }
        }
        drop(state);
        self.set.set_ready(ordinal, false)
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

    /// The set's CA, when it serves TLS.
    pub(crate) fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// The set's scratch directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// One pod's directory inside it.
    pub(crate) fn pod_dir(&self, ordinal: u32) -> PathBuf {
        self.dir().join(ordinal.to_string())
    }

    /// The same, created if it is not there yet.
    pub(crate) fn create_pod_dir(&self, ordinal: u32) -> Result<PathBuf, Error> {
        let dir = self.pod_dir(ordinal);
        create_dir(&dir)?;
        Ok(dir)
    }

    /// Fails unless the pod's process is gone (a restart needs a kill first).
    pub(crate) fn ensure_stopped(&self, ordinal: u32) -> Result<(), Error> {
        if self.state().processes.contains_key(&ordinal) {
            return Err(Error::Spec(format!(
                "{} pod {ordinal} is running; kill it first",
                S::KIND
            )));
        }
        Ok(())
    }

    /// Records the pod's new process.
    pub(crate) fn started(&self, ordinal: u32, process: ServerProcess) {
        self.state().processes.insert(ordinal, process);
    }

    /// The pod's TLS files, written into its directory (which must exist), when the set
    /// serves TLS.
    pub(crate) fn pod_tls(&self, ordinal: u32) -> Result<Option<crate::tls::PodTlsFiles>, Error> {
        let Some(ca) = &self.ca else {
            return Ok(None);
        };
        ca.write_pod_files(
            &self.pod_dir(ordinal),
            &self.fqdn(ordinal)?,
            self.ip(ordinal)?,
        )
        .map(Some)
    }

    /// The CA certificate written into the set's directory, for command-line clients to
    /// trust, when the set serves TLS (Redis's switchover script speaks TLS with it).
    #[cfg(feature = "redis")]
    pub(crate) fn ca_file(&self) -> Result<Option<PathBuf>, Error> {
        let Some(ca) = &self.ca else {
            return Ok(None);
        };
        let path = self.dir.join("ca.crt");
        std::fs::write(&path, ca.cert_pem())
            .map_err(|e| Error::Process(format!("writing {}: {e}", path.display())))?;
        Ok(Some(path))
    }

    /// The pod's IP.
    pub(crate) fn ip(&self, ordinal: u32) -> Result<IpAddr, Error> {
        self.set
            .pod(ordinal)
            .map(|p| p.ip)
            .ok_or_else(|| Error::Spec(format!("no {} pod with ordinal {ordinal}", S::KIND)))
    }

    fn fqdn(&self, ordinal: u32) -> Result<String, Error> {
        self.set
            .pod(ordinal)
            .map(|p| p.fqdn)
            .ok_or_else(|| Error::Spec(format!("no {} pod with ordinal {ordinal}", S::KIND)))
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, Pods> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_process(
        &self,
        ordinal: u32,
        f: impl FnOnce(&ServerProcess) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let state = self.state();
        let process = state
            .processes
            .get(&ordinal)
            .ok_or_else(|| Error::Process(format!("{} pod {ordinal} is not running", S::KIND)))?;
        f(process).map_err(|e| Error::Process(e.to_string()))
    }
}

impl<S: Server> Drop for ServerSet<S> {
    fn drop(&mut self) {
        self.state().processes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory for one set's files (`discovery-<kind>-<pid>-<first pod IP>`): unique
/// across parallel tests, since each cluster claims its own addresses.
fn scratch_dir(kind: &str, set: &StatefulSet) -> Result<PathBuf, Error> {
    let first = set
        .pods()
        .first()
        .map(|p| p.ip.to_string())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("discovery-{kind}-{}-{first}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    create_dir(&dir)?;
    Ok(dir)
}

fn create_dir(dir: &std::path::Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Process(format!("creating {}: {e}", dir.display())))
}
