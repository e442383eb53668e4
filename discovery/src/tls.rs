//! [`Tls`]: which CA the store adapters trust for the pods' certificates.

use std::path::PathBuf;

use serde::Deserialize;

/// TLS to the pods of a StatefulSet. Pods are dialled by IP and their certificate is
/// verified against the pod's FQDN (`redis-0.redis.ns.svc.cluster.local`), which is what
/// certificates issued for StatefulSet pods name.
///
/// ```
/// let tls = headless_discovery::Tls::with_ca_file("/etc/db-tls/ca.crt");
/// assert!(tls.ca_file.is_some());
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Tls {
    /// A PEM file with the CA that signed the pods' certificates. Defaults to none: the
    /// client library's default trusted roots.
    pub ca_file: Option<PathBuf>,
    /// The CA certificate itself (PEM), when it is already in memory. Wins over `ca_file`.
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
}

impl Tls {
    /// Trust the CA in this PEM text.
    pub fn with_ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_file: None,
            ca_pem: Some(pem.into()),
        }
    }

    /// Trust the CA in this PEM file.
    pub fn with_ca_file(path: impl Into<PathBuf>) -> Self {
        Self {
            ca_file: Some(path.into()),
            ca_pem: None,
        }
    }

    /// The CA to trust, as PEM: `ca_pem`, else `ca_file`'s contents, else `None` (the
    /// system's roots).
    ///
    /// # Errors
    ///
    /// Reading `ca_file` failed.
    pub fn root_cert(&self) -> std::io::Result<Option<Vec<u8>>> {
        match (&self.ca_pem, &self.ca_file) {
            (Some(pem), _) => Ok(Some(pem.clone())),
            (None, Some(path)) => std::fs::read(path).map(Some),
            (None, None) => Ok(None),
        }
    }
}
