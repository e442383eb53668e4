//! The runner: the manifests, the pods' bridge, the cluster DNS on it, and a working
//! directory for the pods' files and volume claims, removed on drop.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use headless_discovery_testkit::{ApiServer, Cluster, StatefulSetSpec};

use super::PodError;
use super::manifest::Manifests;
use super::network::Bridge;
use super::pod::{ApiAccess, Identity, Pod, Site};
use super::statefulset::RunningSet;

/// The namespace the manifests are applied to, as `kubectl apply` without `-n` does.
const NAMESPACE: &str = "default";
/// The cluster domain: minikube's and kubeadm's default.
const DOMAIN: &str = "cluster.local";
/// The API server's port on the bridge (the `kubernetes` Service's target port on minikube).
const API_PORT: u16 = 8443;

/// Runs the manifests' StatefulSets and Jobs; see the [module docs](super).
#[derive(Debug)]
pub struct Runner {
    site: Arc<Site>,
    bridge: Arc<Bridge>,
    /// The pods' DNS server, on the bridge; kept for as long as the runner.
    cluster: Cluster,
    /// The pods' API server, on the bridge, over HTTPS.
    _api: ApiServer,
    jobs: AtomicU32,
    _work: WorkDir,
}

impl Runner {
    /// Reads the manifests in `manifests` and sets up the bridge and the DNS on it.
    /// `examples` holds the example binaries, which stand in for the examples image.
    ///
    /// # Errors
    ///
    /// [`PodError`] when a manifest cannot be read, or the network or DNS cannot be set up.
    pub async fn start(manifests: &Path, examples: &Path) -> Result<Self, PodError> {
        let manifests = Manifests::read_dir(manifests)?;
        let bridge = Arc::new(Bridge::create()?);
        let cluster = Cluster::builder()
            .domain(DOMAIN)
            .listen(SocketAddr::new(IpAddr::V4(bridge.gateway()), 53))
            .start()
            .await?;
        // Tokens as the service accounts' would be: one the RBAC of the manifests lets read
        // EndpointSlices, one it does not (the API answers 403, as a cluster would).
        let token = format!("runner-{}", rand::random::<u64>());
        let forbidden = format!("runner-forbidden-{}", rand::random::<u64>());
        let api = ApiServer::builder()
            .listen(SocketAddr::new(IpAddr::V4(bridge.gateway()), API_PORT))
            .https(true)
            .token(&token)
            .forbidden_token(&forbidden)
            .start(&cluster)
            .await?;
        let work = WorkDir::create()?;
        let site = Arc::new(Site {
            namespace: NAMESPACE.into(),
            domain: DOMAIN.into(),
            dns: bridge.gateway(),
            api: ApiAccess {
                host: bridge.gateway(),
                port: API_PORT,
                token,
                forbidden,
                ca_pem: api.ca_pem().unwrap_or_default().to_owned(),
            },
            manifests,
            examples: examples.to_path_buf(),
            work: work.0.clone(),
        });
        Ok(Self {
            site,
            bridge,
            cluster,
            _api: api,
            jobs: AtomicU32::new(0),
            _work: work,
        })
    }

    /// Applies StatefulSet `name`: declares its Service in the DNS (no pod ready yet) and
    /// rolls its pods out.
    ///
    /// # Errors
    ///
    /// [`PodError`]: no such StatefulSet, or a pod not Ready within `deadline`.
    pub async fn apply(&self, name: &str, deadline: Duration) -> Result<RunningSet, PodError> {
        let spec = self
            .site
            .manifests
            .statefulset(name)
            .cloned()
            .ok_or_else(|| PodError::Container {
                pod: name.to_owned(),
                message: "no StatefulSet of that name in the manifests".into(),
            })?;
        let mut dns = StatefulSetSpec::new(&spec.name)
            .service(&spec.service)
            .namespace(NAMESPACE)
            .replicas(spec.replicas);
        for (port_name, port) in self
            .site
            .manifests
            .services
            .get(&spec.service)
            .into_iter()
            .flatten()
        {
            dns = dns.port(port_name, *port);
        }
        let dns = self.cluster.statefulset(dns)?;
        dns.set_all_ready(false)?;
        let set = RunningSet::new(Arc::clone(&self.site), Arc::clone(&self.bridge), spec, dns);
        set.roll_out(deadline).await?;
        Ok(set)
    }

    /// Starts Job `name`'s pod (its own network namespace, `restartPolicy: Never`) and
    /// returns it running; wait on [`Pod::readiness`] for its exit.
    ///
    /// # Errors
    ///
    /// [`PodError`]: no such Job, or its pod cannot be set up.
    pub fn start_job(&self, name: &str) -> Result<Pod, PodError> {
        let template = self
            .site
            .manifests
            .jobs
            .get(name)
            .ok_or_else(|| PodError::Container {
                pod: name.to_owned(),
                message: "no Job of that name in the manifests".into(),
            })?;
        let serial = self.jobs.fetch_add(1, Ordering::Relaxed);
        let identity = Identity {
            name: format!("{name}-{serial}"),
            subdomain: None,
            claims: Default::default(),
            on_ready: Box::new(|_| {}),
        };
        Pod::start(&self.site, identity, template, self.bridge.attach()?, false)
    }
}

/// `/tmp/discovery-pods-<pid>-<n>`, removed on drop.
#[derive(Debug)]
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<Self, PodError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "discovery-pods-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).map_err(|source| PodError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
