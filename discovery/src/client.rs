//! [`Discovery`]: the entry point that owns the DNS client and the shared watches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{Notify, watch};

use crate::config::Config;
#[cfg(feature = "kube")]
use crate::config::Source;
use crate::dns::DnsClient;
use crate::error::Result;
use crate::name::{Environment, HeadlessService, InvalidName, ServiceName};
use crate::peer::PeerSet;
use crate::resolve::{Resolution, resolve};
use crate::watch::{Health, Publisher, Refresher, Watch, WatchInner};

/// Resolves and watches headless Services. Cheap to clone; clones share the DNS client
/// and the watches.
///
/// Watching the same Service twice returns the same [`Watch`] while it is alive, so that
/// every part of an application shares one refresh task per Service.
///
/// # Examples
///
/// ```no_run
/// use headless_discovery::{Config, Discovery};
///
/// # async fn run() -> Result<(), headless_discovery::Error> {
/// let discovery = Discovery::new(Config::default())?;
/// for peer in &discovery.resolve("redis.cache:6379").await? {
///     println!("{:?} {} {}", peer.ordinal(), peer.fqdn(), peer.addr());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Discovery {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    dns: DnsClient,
    namespace: String,
    cluster_domain: String,
    watches: Mutex<HashMap<HeadlessService, Weak<WatchInner>>>,
    /// The API source's client, made on first use (or given).
    #[cfg(feature = "kube")]
    kube: crate::kube::ClientCell,
}

impl Discovery {
    /// A client configured by `config`, with namespace and cluster domain defaults read
    /// from the pod's [`Environment`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for out-of-range values or a bad
    /// `DISCOVERY_NAMESERVER`; [`Error::NoNameserver`](crate::Error::NoNameserver) if no
    /// DNS server is configured and `/etc/resolv.conf` has none.
    pub fn new(config: Config) -> Result<Self> {
        Self::with_environment(config, &Environment::default())
    }

    /// As [`new`](Self::new), reading defaults from `env` instead of the usual places.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new).
    pub fn with_environment(config: Config, env: &Environment) -> Result<Self> {
        config.validate()?;
        let dns = DnsClient::new(&config)?;
        let namespace = config.namespace.clone().unwrap_or_else(|| env.namespace());
        let cluster_domain = config
            .cluster_domain
            .clone()
            .unwrap_or_else(|| env.cluster_domain());
        Ok(Self {
            inner: Arc::new(Shared {
                config,
                dns,
                namespace,
                cluster_domain,
                watches: Mutex::new(HashMap::new()),
                #[cfg(feature = "kube")]
                kube: crate::kube::ClientCell::default(),
            }),
        })
    }

    /// Uses `client` for the API source instead of making one from the kubeconfig or the
    /// service account. Only before the first API watch: a client already in use stays.
    #[cfg(feature = "kube")]
    #[must_use]
    pub fn with_kube_client(self, client: ::kube::Client) -> Self {
        let _ = self.inner.kube.0.set(client);
        self
    }

    /// The API source's client, made on first use.
    #[cfg(feature = "kube")]
    async fn kube_client(&self, service: &HeadlessService) -> Result<::kube::Client> {
        self.inner
            .kube
            .0
            .get_or_try_init(|| crate::kube::client(&self.inner.config))
            .await
            .cloned()
            .map_err(|failure| crate::Error::Api {
                service: service.domain_name(),
                failure,
            })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Completes a name with this client's default namespace and cluster domain.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`](crate::Error::InvalidName) if it does not parse, or if its
    /// longest DNS name (the SRV name of a pod) would exceed the 253 characters DNS allows.
    pub fn service(&self, name: impl IntoServiceName) -> Result<HeadlessService> {
        let name = name.into_service_name()?;
        let service =
            HeadlessService::new(&name, &self.inner.namespace, &self.inner.cluster_domain);
        service.check_length(&name.to_string())?;
        Ok(service)
    }

    /// Resolves a Service once. No ready pod (NXDOMAIN) is an empty set, not an error.
    ///
    /// # Errors
    ///
    /// A bad name, a port the Service does not have, or a DNS failure
    /// ([`Error::is_transient`](crate::Error::is_transient)).
    pub async fn resolve(&self, name: impl IntoServiceName) -> Result<PeerSet> {
        let service = self.service(name)?;
        #[cfg(feature = "kube")]
        if self.inner.config.source == Source::Kube {
            let (mut follower, _parts) = self.follower(&service).await?;
            return follower.first().await;
        }
        let concurrency = self.inner.config.max_concurrent_lookups;
        match resolve(&self.inner.dns, &service, concurrency).await? {
            Resolution::Peers {
                peers, rejected, ..
            } => {
                for record in &rejected {
                    tracing::warn!(service = %service, name = %record.name, reason = %record.reason, "DNS answer names no pod of this Service; ignored");
                }
                Ok(peers)
            }
            Resolution::NoReadyPods { .. } => Ok(PeerSet::empty()),
        }
    }

    /// Watches a Service, resolving it once before returning so that the first snapshot
    /// is real. Returns the existing watch if the Service is already watched.
    ///
    /// # Errors
    ///
    /// As for [`resolve`](Self::resolve): the first resolution's error comes straight back.
    /// Use [`watch_lazy`](Self::watch_lazy) to start without waiting.
    pub async fn watch(&self, name: impl IntoServiceName) -> Result<Watch> {
        let service = self.service(name)?;
        if let Some(existing) = self.existing(&service) {
            return Ok(existing);
        }
        let source = self.inner.config.source;
        #[cfg(feature = "kube")]
        if source == Source::Kube {
            let (mut follower, parts) = self.follower(&service).await?;
            let peers = follower.first().await?;
            tracing::info!(service = %service, peers = peers.len(), %source, "watching");
            let task = tokio::spawn(follower.run());
            return Ok(self.register(service, parts, task));
        }
        let (mut refresher, parts) = self.refresher(&service);
        let first = refresher.first().await?;
        tracing::info!(service = %service, peers = first.peers.len(), %source, "watching");
        let task = tokio::spawn(refresher.run(first.next));
        Ok(self.register(service, parts, task))
    }

    /// Watches a Service without waiting for the first resolution: the snapshot is empty
    /// and [`Health::Starting`] until it completes ([`Watch::ready`] waits for it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`](crate::Error::InvalidName) only.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn watch_lazy(&self, name: impl IntoServiceName) -> Result<Watch> {
        let service = self.service(name)?;
        if let Some(existing) = self.existing(&service) {
            return Ok(existing);
        }
        #[cfg(feature = "kube")]
        if self.inner.config.source == Source::Kube {
            let (mut out, parts) = self.publisher(&service, "the Kubernetes API");
            let this = self.clone();
            let task = tokio::spawn(async move {
                let client = loop {
                    match this.kube_client(&out.service).await {
                        Ok(client) => break client,
                        Err(error) => {
                            out.mark_degraded(error, 1);
                            tokio::time::sleep(this.inner.config.backoff_max).await;
                        }
                    }
                };
                crate::kube::Follower::new(client, out, &this.inner.config)
                    .run()
                    .await;
            });
            return Ok(self.register(service, parts, task));
        }
        let (refresher, parts) = self.refresher(&service);
        let task = tokio::spawn(refresher.run(std::time::Duration::ZERO));
        Ok(self.register(service, parts, task))
    }

    /// How many Services have a live watch.
    pub fn watched(&self) -> usize {
        self.watches()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    fn refresher(&self, service: &HeadlessService) -> (Refresher, WatchParts) {
        let (out, parts) = self.publisher(service, "DNS");
        let refresher = Refresher::new(
            self.inner.dns.clone(),
            out,
            &self.inner.config,
            Arc::clone(&parts.refresh),
        );
        (refresher, parts)
    }

    #[cfg(feature = "kube")]
    async fn follower(
        &self,
        service: &HeadlessService,
    ) -> Result<(crate::kube::Follower, WatchParts)> {
        let client = self.kube_client(service).await?;
        let (out, parts) = self.publisher(service, "the Kubernetes API");
        let follower = crate::kube::Follower::new(client, out, &self.inner.config);
        Ok((follower, parts))
    }

    /// The channels of a new watch: the task's sending side, the handle's receiving one.
    fn publisher(
        &self,
        service: &HeadlessService,
        source: &'static str,
    ) -> (Publisher, WatchParts) {
        let (peers_tx, peers_rx) = watch::channel(PeerSet::empty());
        let (health_tx, health_rx) = watch::channel(Health::Starting);
        let out = Publisher::new(
            service.clone(),
            source,
            peers_tx,
            health_tx,
            self.inner.config.empty_grace,
        );
        let parts = WatchParts {
            peers: peers_rx,
            health: health_rx,
            refresh: Arc::new(Notify::new()),
        };
        (out, parts)
    }

    fn existing(&self, service: &HeadlessService) -> Option<Watch> {
        self.watches()
            .get(service)
            .and_then(Weak::upgrade)
            .map(Watch::from_inner)
    }

    /// Keeps the first live watch if another caller raced us to it; ours is dropped, which
    /// aborts its task.
    fn register(
        &self,
        service: HeadlessService,
        parts: WatchParts,
        task: tokio::task::JoinHandle<()>,
    ) -> Watch {
        let watch = Watch::new(
            service.clone(),
            parts.peers,
            parts.health,
            parts.refresh,
            task,
        );
        let mut watches = self.watches();
        watches.retain(|_, w| w.strong_count() > 0);
        if let Some(existing) = watches.get(&service).and_then(Weak::upgrade) {
            return Watch::from_inner(existing);
        }
        watches.insert(service, watch.downgrade());
        watch
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<HeadlessService, Weak<WatchInner>>> {
        // The map holds only weak references, so a panic elsewhere cannot leave it inconsistent.
        self.inner
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

struct WatchParts {
    peers: watch::Receiver<PeerSet>,
    health: watch::Receiver<Health>,
    refresh: Arc<Notify>,
}

/// Anything that names a Service: `&str`, `String`, or an already parsed [`ServiceName`].
pub trait IntoServiceName {
    /// Parses or passes through the name.
    ///
    /// # Errors
    ///
    /// [`InvalidName`] if it does not parse.
    fn into_service_name(self) -> Result<ServiceName, InvalidName>;
}

impl IntoServiceName for &str {
    fn into_service_name(self) -> Result<ServiceName, InvalidName> {
        ServiceName::parse(self)
    }
}

impl IntoServiceName for String {
    fn into_service_name(self) -> Result<ServiceName, InvalidName> {
        ServiceName::parse(&self)
    }
}

impl IntoServiceName for &String {
    fn into_service_name(self) -> Result<ServiceName, InvalidName> {
        ServiceName::parse(self)
    }
}

impl IntoServiceName for ServiceName {
    fn into_service_name(self) -> Result<ServiceName, InvalidName> {
        Ok(self)
    }
}

impl IntoServiceName for &ServiceName {
    fn into_service_name(self) -> Result<ServiceName, InvalidName> {
        Ok(self.clone())
    }
}
