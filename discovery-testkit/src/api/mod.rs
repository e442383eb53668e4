//! [`ApiServer`]: a Kubernetes API server for the fake cluster, serving the
//! EndpointSlices of its StatefulSets' Services.
//!
//! It serves what kube-runtime's watcher uses, from the same model as the DNS server, so
//! a test changes a pod once and sees it through both sources:
//!
//! - `GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices` with
//!   `labelSelector` (`k=v`, `k==v`, `k!=v`, comma-separated), `limit` and `continue`;
//! - the same with `watch=true`, from `resourceVersion`, with `allowWatchBookmarks` and
//!   `timeoutSeconds`; 410 Gone (an `ERROR` event, or the list's status) for a version
//!   older than its history;
//! - 401 without or with a wrong bearer token, 403 when told to (missing RBAC);
//! - over HTTP, or HTTPS with the testkit CA;
//! - slices split at `max_endpoints_per_slice` (default 100); pods being deleted stay
//!   listed as serving and terminating for the cluster's drain period
//!   ([`Cluster::set_drain_period`](crate::Cluster::set_drain_period)).
//!
//! Not served: other resources, writes, `resourceVersionMatch`, streaming lists. A
//! `continue` token reads the current objects, not a snapshot of the first page's.
//!
//! # Examples
//!
//! ```
//! use headless_discovery_testkit::{ApiServer, Cluster, StatefulSetSpec};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), headless_discovery_testkit::Error> {
//! let cluster = Cluster::start().await?;
//! let redis = cluster.statefulset(StatefulSetSpec::new("redis").port("redis", 6379).replicas(3))?;
//! let api = ApiServer::builder().token("s3cret").https(true).start(&cluster).await?;
//! // Point kube-rs at it: KUBECONFIG, or headless-discovery's `Config::kubeconfig`.
//! let kubeconfig = std::env::temp_dir().join(format!("kubeconfig-{}", std::process::id()));
//! std::fs::write(&kubeconfig, api.kubeconfig("default")).map_err(|e| headless_discovery_testkit::Error::Spec(e.to_string()))?;
//! redis.scale(4)?; // the API's watches see it at once
//! # let _ = std::fs::remove_file(&kubeconfig);
//! # Ok(()) }
//! ```

mod http;
mod render;
mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::cluster::Cluster;
use crate::dns::Shared;
use crate::tls::TestCa;
use render::Mirror;
use store::Store;

/// How the API server misbehaves, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApiFault {
    /// Serves normally.
    #[default]
    None,
    /// Answers every request 503 and ends open watches: an API outage.
    Unavailable,
    /// Answers every request 403, as when the client's RBAC is missing.
    Forbidden,
    /// Accepts requests but answers nothing, and open watches go silent.
    Stall,
}

/// Options for an [`ApiServer`].
#[derive(Debug, Clone)]
pub struct ApiServerBuilder {
    token: Option<String>,
    forbidden_token: Option<String>,
    listen: Option<SocketAddr>,
    https: bool,
    per_slice: usize,
    bookmarks: Duration,
    history: usize,
}

impl Default for ApiServerBuilder {
    fn default() -> Self {
        Self {
            token: None,
            forbidden_token: None,
            listen: None,
            https: false,
            per_slice: 100,
            bookmarks: Duration::from_secs(1),
            history: 10_000,
        }
    }
}

impl ApiServerBuilder {
    /// Require `Authorization: Bearer <token>`; without one, anyone may read.
    #[must_use]
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Also accept `token`, but answer its requests 403, as RBAC does for a service
    /// account without the Role the API source needs.
    #[must_use]
    pub fn forbidden_token(mut self, token: &str) -> Self {
        self.forbidden_token = Some(token.to_owned());
        self
    }

    /// Where to listen (default: an ephemeral port of 127.0.0.1). Pods in their own
    /// network namespaces need an address on their bridge.
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Serve HTTPS with a certificate from a fresh testkit CA (for `127.0.0.1` and
    /// `kubernetes.default.svc`), instead of plain HTTP.
    #[must_use]
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// Endpoints per slice before the controller starts another (default 100).
    #[must_use]
    pub fn max_endpoints_per_slice(mut self, n: usize) -> Self {
        self.per_slice = n.max(1);
        self
    }

    /// How often a watch that asked for bookmarks gets one (default 1 s; a real API
    /// server sends one about every minute).
    #[must_use]
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmarks = every;
        self
    }

    /// Starts serving `cluster`'s slices.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] if no port could be bound; [`Error::Tls`] if the certificate
    /// could not be made.
    pub async fn start(self, cluster: &Cluster) -> Result<ApiServer, Error> {
        let listen = self
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Api(format!("bind: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Api(format!("local address: {e}")))?;
        let (ca, acceptor) = if self.https {
            let (ca, acceptor) = http::acceptor(addr)?;
            (Some(ca), Some(acceptor))
        } else {
            (None, None)
        };
        let inner = Arc::new(Inner {
            cluster: Arc::clone(cluster.shared()),
            store: Mutex::new(Store::new(self.history)),
            rv: watch::Sender::new(0),
            generation: watch::Sender::new(0),
            fault: watch::Sender::new(ApiFault::None),
            mirrors: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            token: self.token.clone(),
            forbidden_token: self.forbidden_token,
            per_slice: self.per_slice,
            bookmarks: self.bookmarks,
        });
        inner.sync();
        let syncer = tokio::spawn(Arc::clone(&inner).follow_cluster());
        let server = tokio::spawn(http::serve(listener, acceptor, Arc::clone(&inner)));
        Ok(ApiServer {
            addr,
            https: self.https,
            token: self.token,
            ca,
            inner,
            tasks: [syncer, server],
        })
    }
}

/// A running API server; stops when dropped. See the [module docs](self).
pub struct ApiServer {
    addr: SocketAddr,
    https: bool,
    token: Option<String>,
    ca: Option<TestCa>,
    inner: Arc<Inner>,
    tasks: [JoinHandle<()>; 2],
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // End open watches: their tasks hold the state, not the listener.
        self.inner.end_watches();
    }
}

impl ApiServer {
    /// Options before starting.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA certificate (PEM) that signed the server's, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::cert_pem)
    }

    /// A kubeconfig for this server, with `namespace` as the context's namespace, the
    /// token as its user and the CA inline: write it to a file and point kube-rs at it.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        use base64::Engine as _;
        let ca = self
            .ca_pem()
            .map(|pem| {
                format!(
                    "\n    certificate-authority-data: {}",
                    base64::engine::general_purpose::STANDARD.encode(pem)
                )
            })
            .unwrap_or_default();
        let user = match &self.token {
            Some(token) => format!("{{ token: \"{token}\" }}"),
            None => "{}".to_owned(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testkit\n  cluster:\n    server: {}{ca}\ncontexts:\n- name: testkit\n  context: {{ cluster: testkit, user: testkit, namespace: {namespace} }}\ncurrent-context: testkit\nusers:\n- name: testkit\n  user: {user}\n",
            self.url()
        )
    }

    /// Misbehaves from now on as `fault` says (also for watches already open).
    pub fn set_fault(&self, fault: ApiFault) {
        self.inner.fault.send_replace(fault);
        if fault == ApiFault::Unavailable {
            self.inner.end_watches();
        }
    }

    /// Forgets the change history and ends every open watch, as an API server restart
    /// after an etcd compaction does: a client that watches again from the version it
    /// had gets 410 Gone and must list again.
    pub fn expire_history(&self) {
        self.inner.lock_store().compact();
        self.inner.end_watches();
    }

    /// Adds a slice `name` for `set`'s Service listing copies of these pods' endpoints:
    /// the overlap a cluster shows while the controller moves endpoints between slices.
    pub fn mirror(&self, set: &crate::StatefulSet, name: &str, ordinals: &[u32]) {
        self.inner.lock_mirrors().push(Mirror {
            namespace: set.namespace().to_owned(),
            set: set.name().to_owned(),
            name: name.to_owned(),
            ordinals: ordinals.to_vec(),
        });
        self.inner.sync();
    }

    /// Removes the slices added by [`mirror`](Self::mirror).
    pub fn unmirror(&self) {
        self.inner.lock_mirrors().clear();
        self.inner.sync();
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock_store().rv()
    }

    /// How many requests it has received (lists and watches).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }
}

/// What the server's tasks share.
#[derive(Debug)]
struct Inner {
    cluster: Arc<Shared>,
    store: Mutex<Store>,
    /// The latest resourceVersion, for watches to wait on.
    rv: watch::Sender<u64>,
    /// Bumped to end every open watch.
    generation: watch::Sender<u64>,
    fault: watch::Sender<ApiFault>,
    mirrors: Mutex<Vec<Mirror>>,
    requests: AtomicU64,
    token: Option<String>,
    forbidden_token: Option<String>,
    per_slice: usize,
    bookmarks: Duration,
}

impl Inner {
    /// Renders the slices from the cluster and stores what changed.
    fn sync(&self) {
        let desired = {
            let mut state = self
                .cluster
                .state
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let mirrors = self.lock_mirrors().clone();
            render::slices(&mut state, self.per_slice, &mirrors)
        };
        let mut store = self.lock_store();
        if store.sync(desired) {
            self.rv.send_replace(store.rv());
        }
    }

    /// Syncs on every change to the cluster, and when a terminating pod's drain ends.
    async fn follow_cluster(self: Arc<Self>) {
        let mut changes = self.cluster.changes.subscribe();
        loop {
            let next_expiry = self
                .cluster
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .sets
                .iter()
                .flat_map(|s| s.terminating.iter().map(|t| t.until))
                .min();
            match next_expiry {
                Some(until) => tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep_until(until.into()) => {}
                },
                None => {
                    if changes.changed().await.is_err() {
                        return;
                    }
                }
            }
            self.sync();
        }
    }

    fn end_watches(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_mirrors(&self) -> std::sync::MutexGuard<'_, Vec<Mirror>> {
        self.mirrors.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
