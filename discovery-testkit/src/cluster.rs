//! [`Cluster`]: the fake cluster a test declares StatefulSets in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLockWriteGuard};

use hickory_server::proto::rr::{Name, RecordType};

use crate::Error;
use crate::addr::AddressPool;
use crate::dns::{DnsServer, Fault, Handler, ScriptedReply, Shared, absolute};
use crate::model::{PodState, SetState, StatefulSetSpec};
use crate::statefulset::StatefulSet;

/// The default record TTL: CoreDNS's `kubernetes` plugin default.
pub const DEFAULT_TTL: u32 = 5;

/// What the DNS server answers from.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) domain: Name,
    pub(crate) ttl: u32,
    pub(crate) serial: u32,
    pub(crate) sets: Vec<SetState>,
    pub(crate) glue: bool,
    /// How long a deleted pod stays listed as terminating by the API.
    pub(crate) drain: std::time::Duration,
}

impl Default for State {
    fn default() -> Self {
        Self {
            domain: Name::from_ascii("cluster.local.").unwrap_or_else(|_| Name::root()),
            ttl: DEFAULT_TTL,
            serial: 1,
            sets: Vec::new(),
            glue: true,
            drain: std::time::Duration::ZERO,
        }
    }
}

/// A fake Kubernetes cluster on loopback: a DNS server answering like CoreDNS for the
/// headless Services of the StatefulSets declared in it, with pod addresses from a
/// loopback block unique to this cluster.
///
/// Everything stops when the cluster is dropped.
///
/// # Examples
///
/// ```
/// use headless_discovery_testkit::{Cluster, StatefulSetSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), headless_discovery_testkit::Error> {
/// let cluster = Cluster::builder().ttl(1).start().await?;
/// let redis = cluster.statefulset(StatefulSetSpec::new("redis").namespace("cache").port("redis", 6379).replicas(3))?;
/// println!("DNS at {}; redis-0 at {}", cluster.dns_addr(), redis.pod(0).expect("pod 0").ip);
/// redis.scale(5)?;
/// redis.replace_pod(2)?;    // a rolling update: same name, new IP
/// redis.set_ready(1, false)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<Shared>,
    pool: Arc<AddressPool>,
    server: DnsServer,
}

/// Options for a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    ttl: u32,
    domain: String,
    glue: bool,
    listen: Option<SocketAddr>,
    cache: Option<(u32, usize)>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            domain: "cluster.local".to_owned(),
            glue: true,
            listen: None,
            cache: None,
        }
    }
}

impl ClusterBuilder {
    /// The TTL of every record, and the SOA minimum (as CoreDNS sets both). Default 5.
    #[must_use]
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// The cluster domain. Default `cluster.local`.
    #[must_use]
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = domain.trim_end_matches('.').to_owned();
        self
    }

    /// Whether SRV answers carry the targets' addresses in the Additional section, as
    /// CoreDNS's do. Default true; turn it off to test clients against servers that
    /// leave glue out (which the DNS standards allow).
    #[must_use]
    pub fn glue(mut self, glue: bool) -> Self {
        self.glue = glue;
        self
    }

    /// Where the DNS server listens, UDP and TCP. Default: an ephemeral port on
    /// 127.0.0.1. Pods in their own network namespaces need an address they can reach,
    /// on port 53 as kubelet's `resolv.conf` has it.
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Puts CoreDNS's `cache <max_ttl>` plugin in front of the zone, `replicas` times
    /// over (each query goes to one cache at random, as kube-proxy spreads queries over
    /// CoreDNS pods). An answer is kept for its smallest TTL capped at `max_ttl` (at
    /// least 5 s) and served with its TTL counting down. Default: no cache, as CoreDNS
    /// without the plugin.
    #[must_use]
    pub fn cache(mut self, max_ttl: u32, replicas: usize) -> Self {
        self.cache = Some((max_ttl, replicas));
        self
    }

    /// The DNS of a stock kubeadm or minikube cluster: `ttl 30` on the kubernetes plugin
    /// and `cache 30` in front, one CoreDNS replica (minikube's). Newer kubeadm Corefiles
    /// disable that cache for `cluster.local`; use [`ttl`](Self::ttl) alone for those.
    #[must_use]
    pub fn stock_corefile(self) -> Self {
        self.ttl(30).cache(30, 1)
    }

    /// Starts the DNS server.
    ///
    /// # Errors
    ///
    /// [`Error::Dns`] if no port could be bound, [`Error::Addresses`] if no loopback block
    /// was free, [`Error::Spec`] for a bad domain.
    pub async fn start(self) -> Result<Cluster, Error> {
        let domain = Name::from_ascii(format!("{}.", self.domain))
            .map_err(|e| Error::Spec(format!("bad cluster domain `{}`: {e}", self.domain)))?;
        let shared = Arc::new(Shared::default());
        if let Some((max_ttl, replicas)) = self.cache {
            let _ = shared
                .caches
                .set(crate::dns::Caches::new(max_ttl, replicas));
        }
        {
            let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
            state.domain = domain;
            state.ttl = self.ttl;
            state.glue = self.glue;
        }
        let pool = Arc::new(AddressPool::new()?);
        let server = DnsServer::start(Handler(Arc::clone(&shared)), self.listen).await?;
        tracing::debug!(dns = %server.addr(), "testkit cluster started");
        Ok(Cluster {
            shared,
            pool,
            server,
        })
    }
}

impl Cluster {
    /// A cluster with the defaults (TTL 5 s, `cluster.local`).
    ///
    /// # Errors
    ///
    /// As for [`ClusterBuilder::start`].
    pub async fn start() -> Result<Self, Error> {
        ClusterBuilder::default().start().await
    }

    /// Options before starting.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    #[cfg(feature = "api")]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Where the DNS server listens (UDP and TCP); give it to discovery as its nameserver.
    pub fn dns_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The cluster domain, without trailing dot.
    pub fn domain(&self) -> String {
        self.state()
            .domain
            .to_ascii()
            .trim_end_matches('.')
            .to_owned()
    }

    /// The address pool pods get their IPs from; servers for other roles can take theirs here.
    pub fn addresses(&self) -> &Arc<AddressPool> {
        &self.pool
    }

    /// Declares a StatefulSet with its headless Service; its pods are ready at once.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if a StatefulSet of that name already exists in the namespace;
    /// [`Error::Addresses`] if the loopback pool ran dry.
    pub fn statefulset(&self, spec: StatefulSetSpec) -> Result<StatefulSet, Error> {
        let mut pods = BTreeMap::new();
        for ordinal in spec.start_ordinal..spec.start_ordinal + spec.replicas {
            pods.insert(ordinal, PodState::new(self.pool.next(spec.family)?));
        }
        let mut state = self.write();
        if state
            .sets
            .iter()
            .any(|s| s.spec.name == spec.name && s.spec.namespace == spec.namespace)
        {
            return Err(Error::Spec(format!(
                "StatefulSet {}/{} is already declared",
                spec.namespace, spec.name
            )));
        }
        let handle = StatefulSet::new(Arc::clone(&self.shared), Arc::clone(&self.pool), &spec);
        state.sets.push(SetState {
            spec,
            pods,
            terminating: Vec::new(),
        });
        state.serial += 1;
        drop(state);
        self.shared.changed();
        Ok(handle)
    }

    /// Makes every query fail or stall in the given way until set back to [`Fault::None`].
    pub fn set_fault(&self, fault: Fault) {
        *self
            .shared
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Answers `name` (any case, trailing dot optional) and `rtype` with `reply` instead
    /// of the zone, until [`unscript`](Self::unscript) or [`unscript_all`](Self::unscript_all).
    /// Faults set with [`set_fault`](Self::set_fault) still come first.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if `name` or a name in `reply` is not a DNS name.
    pub fn script(&self, name: &str, rtype: RecordType, reply: ScriptedReply) -> Result<(), Error> {
        reply.sections(0)?;
        let name = absolute(name)?;
        self.scripts().insert((name, rtype), reply);
        Ok(())
    }

    /// Answers `name` and `rtype` from the zone again.
    pub fn unscript(&self, name: &str, rtype: RecordType) {
        if let Ok(name) = absolute(name) {
            self.scripts().remove(&(name, rtype));
        }
    }

    /// Answers every question from the zone again.
    pub fn unscript_all(&self) {
        self.scripts().clear();
    }

    fn scripts(
        &self,
    ) -> RwLockWriteGuard<'_, std::collections::HashMap<(Name, RecordType), ScriptedReply>> {
        self.shared
            .scripts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How long a deleted or replaced pod stays listed by the API as terminating but
    /// serving (a draining peer) before it goes, as during a pod's termination grace
    /// period. Default zero: gone at once. DNS never lists terminating pods.
    pub fn set_drain_period(&self, drain: std::time::Duration) {
        self.write().drain = drain;
    }

    /// Changes the TTL of every record from now on.
    pub fn set_ttl(&self, ttl: u32) {
        self.write().ttl = ttl;
    }

    /// How many queries the server has received, faulted ones included.
    pub fn queries(&self) -> u64 {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// How many of those queries came over TCP.
    pub fn tcp_queries(&self) -> u64 {
        self.shared.over_tcp.load(Ordering::Relaxed)
    }

    /// How many queries asked for `name` (absolute or not, any case) and `rtype`.
    pub fn queries_for(&self, name: &str, rtype: RecordType) -> u64 {
        let Ok(name) = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))) else {
            return 0;
        };
        self.shared
            .per_question
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(name.to_lowercase(), rtype))
            .copied()
            .unwrap_or(0)
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
