//! [`RedisConfig`]: credentials, timeouts, probing and read-routing limits.

use std::time::Duration;

pub use discovery::Secret;
use serde::Deserialize;

/// How the router talks to the pods and decides where commands go.
///
/// Deserializes from your config (all fields optional, durations like `"1s"`); every
/// default is in the field's doc.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// ACL user name. Defaults to none (the `default` user).
    pub username: Option<String>,
    /// Password. Defaults to none. Never logged.
    pub password: Option<Secret>,
    /// Database index. Defaults to 0.
    pub db: i64,
    /// How long to wait for a TCP connection to a pod. Defaults to 1 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long to wait for a reply. Defaults to 2 s.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// How often every pod is asked its role (jittered ±15 %). Defaults to 1 s.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// How long one pod may take to answer its probe before the round goes on without it
    /// (reported down), so that one frozen pod does not hold up a failover. Defaults to
    /// 500 ms.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// The smallest gap between two probe rounds asked for by errors (`READONLY`, a
    /// dropped connection) or discovery changes. Defaults to 50 ms.
    #[serde(with = "humantime_serde")]
    pub probe_debounce: Duration,
    /// How long a write waits for a master to appear before failing with
    /// [`Error::NoMaster`](crate::Error::NoMaster). Defaults to 5 s.
    #[serde(with = "humantime_serde")]
    pub failover_wait: Duration,
    /// Replicas more than this many bytes behind the master get no reads. Defaults to
    /// 1 MiB; `None` turns the check off.
    pub max_lag_bytes: Option<u64>,
    /// Replicas that have not heard from the master for this long get no reads. Defaults
    /// to 10 s; `None` turns the check off.
    #[serde(with = "humantime_serde")]
    pub max_lag: Option<Duration>,
    /// When several pods claim to be master and the replicas do not settle it, prefer this
    /// ordinal. Defaults to none: writes are refused instead. Never used otherwise.
    pub tie_break_ordinal: Option<u32>,
    /// TLS to the pods. Defaults to none (plain TCP).
    pub tls: Option<RedisTls>,
}

/// TLS settings. Pods are dialled by IP and their certificate is verified against the
/// pod's FQDN (`redis-0.redis.ns.svc.cluster.local`), which is what certificates issued
/// for StatefulSet pods name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisTls {
    /// A PEM file with the CA that signed the pods' certificates. Defaults to none: the
    /// system's trusted roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// The CA certificate itself (PEM), when it is already in memory. Wins over `ca_file`.
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisTls {
    /// Trust the CA in this PEM text.
    pub fn with_ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_file: None,
            ca_pem: Some(pem.into()),
        }
    }

    /// Trust the CA in this PEM file.
    pub fn with_ca_file(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            ca_file: Some(path.into()),
            ca_pem: None,
        }
    }

    pub(crate) fn root_cert(&self) -> std::io::Result<Option<Vec<u8>>> {
        match (&self.ca_pem, &self.ca_file) {
            (Some(pem), _) => Ok(Some(pem.clone())),
            (None, Some(path)) => std::fs::read(path).map(Some),
            (None, None) => Ok(None),
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            db: 0,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            probe_debounce: Duration::from_millis(50),
            failover_wait: Duration::from_secs(5),
            max_lag_bytes: Some(1024 * 1024),
            max_lag: Some(Duration::from_secs(10)),
            tie_break_ordinal: None,
            tls: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug() {
        let config: RedisConfig =
            serde_json::from_str(r#"{ "password": "hunter2", "probe_interval": "250ms" }"#)
                .expect("config");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(config.probe_interval, Duration::from_millis(250));
        assert_eq!(
            config.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
    }
}
