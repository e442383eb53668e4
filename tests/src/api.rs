//! A testkit cluster with its Kubernetes API server, and discovery configs that use it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use headless_discovery::{Config, Source};
use headless_discovery_testkit::{ApiServer, ApiServerBuilder, Cluster};

use crate::test_config;

/// The cluster, its API server with a bearer token, and a kubeconfig file for it
/// (removed on drop).
#[derive(Debug)]
pub struct ApiCluster {
    /// The fake cluster (DNS and model).
    pub cluster: Cluster,
    /// Its API server.
    pub api: ApiServer,
    kubeconfig: PathBuf,
}

impl ApiCluster {
    /// Starts a cluster (TTL 1) and an HTTPS API server with a token.
    ///
    /// # Panics
    ///
    /// If either cannot start.
    pub async fn start() -> Self {
        Self::start_with(ApiServer::builder().https(true)).await
    }

    /// As [`start`](Self::start), with these API server options (the token set; plain
    /// HTTP unless they ask for HTTPS).
    ///
    /// # Panics
    ///
    /// If either cannot start.
    pub async fn start_with(builder: ApiServerBuilder) -> Self {
        headless_discovery_testkit::init_tracing();
        let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
        let api = builder
            .token("testkit-token")
            .start(&cluster)
            .await
            .expect("API server");
        static N: AtomicU32 = AtomicU32::new(0);
        let kubeconfig = std::env::temp_dir().join(format!(
            "discovery-kubeconfig-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&kubeconfig, api.kubeconfig("default")).expect("write kubeconfig");
        Self {
            cluster,
            api,
            kubeconfig,
        }
    }

    /// The kubeconfig's path.
    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// [`test_config`] on the API source, through the kubeconfig.
    pub fn config(&self) -> Config {
        test_config(&self.cluster)
            .source(Source::Kube)
            .kubeconfig(&self.kubeconfig)
    }
}

impl Drop for ApiCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}
