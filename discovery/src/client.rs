//! [`Discovery`]: the entry point that owns the DNS client and the shared watches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{Notify, watch};

use std::time::Duration;

use crate::config::{Config, Source};
use crate::dns::DnsClient;
use crate::error::Result;
use crate::name::{Environment, HeadlessService, InvalidName, ServiceName};
use crate::peer::PeerSet;
use crate::resolve::{Resolution, resolve};
use crate::watch::{Health, Publisher, Refresher, SourceInUse, SourceReason, Watch, WatchInner};

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
    /// With the API source, one list of its EndpointSlices (`Auto`: DNS if that fails).
    ///
    /// # Errors
    ///
    /// A bad name, a port the Service does not have, or a DNS failure
    /// ([`Error::is_transient`](crate::Error::is_transient)); an API failure for
    /// [`Source::Kube`](crate::Source::Kube).
    pub async fn resolve(&self, name: impl IntoServiceName) -> Result<PeerSet> {
        let service = self.service(name)?;
        #[cfg(feature = "kube")]
        if self.inner.config.source != Source::Dns {
            let listed = match self.kube_client(&service).await {
                Ok(client) => {
                    let (out, _parts, _choice) = self.publisher(&service, Source::Kube);
                    crate::kube::Follower::new(client, out, &self.inner.config)
                        .first()
                        .await
                }
                Err(error) => Err(error),
            };
            match listed {
                Err(error) if self.inner.config.source == Source::Auto => {
                    tracing::debug!(service = %service, %error, "the API could not list the slices; resolving through DNS");
                }
                listed => return listed,
            }
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
        let config = &self.inner.config;
        let (out, parts, choice) = self.publisher(&service, config.source);
        let task = match config.source {
            Source::Dns => {
                let mut refresher = self.refresher(out, &parts);
                let first = refresher.first().await?;
                tokio::spawn(refresher.run(first.next))
            }
            #[cfg(feature = "kube")]
            Source::Kube => {
                let client = self.kube_client(&service).await?;
                let mut follower = crate::kube::Follower::new(client, out, config);
                follower.first().await?;
                tokio::spawn(follower.run())
            }
            #[cfg(feature = "kube")]
            Source::Auto => {
                let client = self.kube_client(&service).await;
                let fallback = self.fallback(&parts);
                let auto = crate::kube::Auto::start(client, out, choice, fallback).await?;
                tokio::spawn(auto.run())
            }
            #[cfg(not(feature = "kube"))]
            _ => return Err(without_kube(config.source, choice)),
        };
        let watch = self.register(service, parts, task);
        tracing::info!(service = %watch.service(), peers = watch.peers().len(), source = %watch.source(), "watching");
        Ok(watch)
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
        let (out, parts, choice) = self.publisher(&service, self.inner.config.source);
        let task = match self.inner.config.source {
            Source::Dns => tokio::spawn(self.refresher(out, &parts).run(Duration::ZERO)),
            #[cfg(feature = "kube")]
            source => {
                let this = self.clone();
                let fallback = self.fallback(&parts);
                tokio::spawn(async move {
                    let client = this.kube_client(&out.service).await;
                    if source == Source::Auto {
                        crate::kube::Auto::start_lazy(client, out, choice, fallback)
                            .run()
                            .await;
                    } else {
                        this.follow_lazy(client, out).await;
                    }
                })
            }
            #[cfg(not(feature = "kube"))]
            source => return Err(without_kube(source, choice)),
        };
        Ok(self.register(service, parts, task))
    }

    /// The API source of a lazily started watch: no client yet means retrying to make
    /// one, with the failure in health meanwhile.
    #[cfg(feature = "kube")]
    async fn follow_lazy(&self, mut client: Result<::kube::Client>, mut out: Publisher) {
        let mut failures = 0;
        let client = loop {
            match client {
                Ok(client) => break client,
                Err(error) => {
                    failures += 1;
                    out.mark_degraded(error, failures);
                    tokio::time::sleep(self.inner.config.backoff_max).await;
                    client = self.kube_client(&out.service).await;
                }
            }
        };
        crate::kube::Follower::new(client, out, &self.inner.config)
            .run()
            .await;
    }

    /// How many Services have a live watch.
    pub fn watched(&self) -> usize {
        self.watches()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    fn refresher(&self, out: Publisher, parts: &WatchParts) -> Refresher {
        Refresher::new(
            self.inner.dns.clone(),
            out,
            &self.inner.config,
            Arc::clone(&parts.refresh),
        )
    }

    /// What `Auto` needs to start DNS when it falls back.
    #[cfg(feature = "kube")]
    fn fallback(&self, parts: &WatchParts) -> crate::kube::DnsFallback {
        crate::kube::DnsFallback {
            dns: self.inner.dns.clone(),
            config: self.inner.config.clone(),
            refresh: Arc::clone(&parts.refresh),
        }
    }

    /// The channels of a new watch: the task's sending side, the handle's receiving one,
    /// and the sender of the source in use (only `Auto` keeps it).
    fn publisher(
        &self,
        service: &HeadlessService,
        source: Source,
    ) -> (Publisher, WatchParts, watch::Sender<SourceInUse>) {
        let (peers_tx, peers_rx) = watch::channel(PeerSet::empty());
        let (health_tx, health_rx) = watch::channel(Health::Starting);
        let out = Publisher::new(
            service.clone(),
            source,
            peers_tx,
            health_tx,
            self.inner.config.empty_grace,
        );
        let (choice_tx, choice_rx) = watch::channel(SourceInUse::new(
            if source == Source::Auto {
                Source::Kube
            } else {
                source
            },
            SourceReason::Configured,
        ));
        let parts = WatchParts {
            peers: peers_rx,
            health: health_rx,
            source: choice_rx,
            refresh: Arc::new(Notify::new()),
        };
        (out, parts, choice_tx)
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
            parts.source,
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
    source: watch::Receiver<SourceInUse>,
    refresh: Arc<Notify>,
}

/// The error for an API source in a build without the `kube` feature (the config's
/// validation catches it first).
#[cfg(not(feature = "kube"))]
fn without_kube(source: Source, _choice: watch::Sender<SourceInUse>) -> crate::Error {
    crate::Error::InvalidConfig(format!(
        "source `{source}` needs headless-discovery built with the `kube` feature"
    ))
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
