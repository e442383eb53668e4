//! Where the defaults for namespace and cluster domain come from inside a pod.

use std::path::PathBuf;

/// The namespace file Kubernetes mounts into every pod with a service account.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
const RESOLV_CONF: &str = "/etc/resolv.conf";
const FALLBACK_NAMESPACE: &str = "default";
const FALLBACK_DOMAIN: &str = "cluster.local";

/// The pod's view of its namespace and cluster domain, read from the usual places.
///
/// - namespace: the service-account namespace file, then `POD_NAMESPACE`, then `default`;
/// - cluster domain: the `search` line of `resolv.conf` (kubelet writes
///   `<ns>.svc.<domain> svc.<domain> <domain>` there), then `cluster.local`.
///
/// The paths can be changed, which tests and unusual images need.
///
/// # Examples
///
/// ```
/// use headless_discovery::Environment;
///
/// let env = Environment::default().with_resolv_conf("/nonexistent").with_namespace_file("/nonexistent");
/// assert_eq!(env.cluster_domain(), "cluster.local");
/// ```
#[derive(Debug, Clone)]
pub struct Environment {
    namespace_file: PathBuf,
    resolv_conf: PathBuf,
    namespace_env: Option<String>,
}

impl Default for Environment {
    fn default() -> Self {
        Self {
            namespace_file: SERVICE_ACCOUNT_NAMESPACE.into(),
            resolv_conf: RESOLV_CONF.into(),
            namespace_env: std::env::var("POD_NAMESPACE").ok(),
        }
    }
}

impl Environment {
    /// Reads the namespace from `path` instead of the service-account file.
    #[must_use]
    pub fn with_namespace_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.namespace_file = path.into();
        self
    }

    /// Reads the search list from `path` instead of `/etc/resolv.conf`.
    #[must_use]
    pub fn with_resolv_conf(mut self, path: impl Into<PathBuf>) -> Self {
        self.resolv_conf = path.into();
        self
    }

    /// Uses `namespace` as if `POD_NAMESPACE` held it (`None`: as if it were unset).
    #[must_use]
    pub fn with_namespace_env(mut self, namespace: Option<String>) -> Self {
        self.namespace_env = namespace;
        self
    }

    /// The pod's namespace, or `default` outside a pod.
    pub fn namespace(&self) -> String {
        std::fs::read_to_string(&self.namespace_file)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .or_else(|| self.namespace_env.clone().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| FALLBACK_NAMESPACE.to_owned())
    }

    /// The cluster domain from the `resolv.conf` search list, or `cluster.local`.
    pub fn cluster_domain(&self) -> String {
        std::fs::read_to_string(&self.resolv_conf)
            .ok()
            .and_then(|text| domain_from_resolv_conf(&text))
            .unwrap_or_else(|| FALLBACK_DOMAIN.to_owned())
    }
}

/// Finds `svc.<domain>` in the last `search` line (the one the resolver honours).
fn domain_from_resolv_conf(text: &str) -> Option<String> {
    let search = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("search"))
        .rfind(|rest| rest.starts_with(char::is_whitespace))?;
    search
        .split_whitespace()
        .find_map(|entry| entry.trim_end_matches('.').strip_prefix("svc."))
        .filter(|domain| !domain.is_empty())
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_search_line_gives_the_cluster_domain() {
        let conf = "nameserver 10.96.0.10\nsearch cache.svc.k8s.example svc.k8s.example k8s.example\noptions ndots:5\n";
        assert_eq!(
            domain_from_resolv_conf(conf).as_deref(),
            Some("k8s.example")
        );
    }

    #[test]
    fn no_svc_entry_means_no_domain() {
        assert_eq!(domain_from_resolv_conf("search example.com\n"), None);
        assert_eq!(domain_from_resolv_conf("nameserver 1.1.1.1\n"), None);
        assert_eq!(domain_from_resolv_conf("searchdomains svc.x\n"), None);
    }

    #[test]
    fn namespace_falls_back_from_file_to_env_to_default() {
        let dir = std::env::temp_dir().join(format!("discovery-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("namespace");
        std::fs::write(&file, "payments\n").expect("write namespace file");

        let env = Environment::default().with_namespace_env(Some("from-env".into()));
        assert_eq!(
            env.clone().with_namespace_file(&file).namespace(),
            "payments"
        );
        let env = env.with_namespace_file(dir.join("missing"));
        assert_eq!(env.namespace(), "from-env");
        assert_eq!(env.with_namespace_env(None).namespace(), "default");
        let _ = std::fs::remove_dir_all(dir);
    }
}
