//! [`Config`]: how discovery queries DNS and paces its refreshes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::name::{LabelRole, check_label};

/// The environment variable that points discovery at a given DNS server (`ip:port`),
/// as the testkit, local demos and minikube-from-the-host need.
pub const NAMESERVER_ENV: &str = "DISCOVERY_NAMESERVER";

/// How discovery resolves and watches Services.
///
/// Every field has a documented default; deserialize it from your own config file (all
/// fields optional, durations written like `"1s"` or `"250ms"`), or start from
/// `Config::default()` and change what you need.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use headless_discovery::Config;
///
/// let config = Config::new()
///     .nameserver("127.0.0.1:5353".parse()?)
///     .namespace("shop")
///     .refresh(Duration::from_millis(500), Duration::from_secs(30));
/// config.validate()?;
///
/// // Or field by field, as a config file sets them.
/// let mut config = Config::default();
/// config.min_refresh = Duration::from_millis(500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The DNS server to ask instead of those in `/etc/resolv.conf`.
    /// Defaults to `$DISCOVERY_NAMESERVER` if set, else the system's servers.
    pub nameserver: Option<SocketAddr>,

    /// The namespace for names that give none.
    /// Defaults to the pod's namespace (see [`Environment`](crate::Environment)), else `default`.
    pub namespace: Option<String>,

    /// The cluster domain for names that give none.
    /// Defaults to the one in the `resolv.conf` search list, else `cluster.local`.
    pub cluster_domain: Option<String>,

    /// The shortest time between two refreshes, whatever the TTL says. Defaults to 1 s.
    #[serde(with = "humantime_serde")]
    pub min_refresh: Duration,

    /// The longest time between two refreshes, whatever the TTL says. Defaults to 30 s.
    #[serde(with = "humantime_serde")]
    pub max_refresh: Duration,

    /// Random spread applied to every delay, as a fraction: 0.15 means ±15 %, so that many
    /// clients do not query CoreDNS in lockstep. Defaults to 0.15.
    pub jitter: f64,

    /// The first retry delay after a transient DNS failure; it doubles on each further
    /// failure up to `backoff_max`. Defaults to 250 ms.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,

    /// The longest retry delay after repeated DNS failures. Defaults to 30 s.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,

    /// How long the Service must keep answering NXDOMAIN (no ready pod) before an empty set
    /// is published, so that a one-replica rollout does not flap. Defaults to 5 s.
    #[serde(with = "humantime_serde")]
    pub empty_grace: Duration,

    /// The smallest gap between two resolutions asked for by
    /// [`Watch::refresh_now`](crate::Watch::refresh_now); requests inside it are merged.
    /// Defaults to 500 ms.
    #[serde(with = "humantime_serde")]
    pub refresh_debounce: Duration,

    /// How long one DNS query may take before it counts as a timeout. Defaults to 2 s.
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,

    /// How many concurrent lookups one resolution may make for SRV targets without glue and
    /// for PTR records. Defaults to 16.
    pub max_concurrent_lookups: usize,

    /// Where peers come from: DNS (the default) or the Kubernetes API's EndpointSlices
    /// (feature `kube`).
    pub source: Source,

    /// The kubeconfig the API source reads. Defaults to what kube-rs infers:
    /// `$KUBECONFIG` or `~/.kube/config`, else the pod's service account.
    pub kubeconfig: Option<PathBuf>,

    /// API source: how long an open watch may stay silent (no event, no bookmark) before
    /// it counts as stalled, is dropped and relisted, and the watch reports degraded.
    /// The API server sends a bookmark about every minute. Defaults to 90 s. Applies to
    /// clients this crate makes; a client given with
    /// `Discovery::with_kube_client` keeps its
    /// own read timeout.
    #[serde(with = "humantime_serde")]
    pub api_silence_timeout: Duration,

    /// [`Source::Auto`]: how long the API must keep failing (an outage, a stalled or
    /// refused watch) before the watch falls back to DNS; also how long a watch's start
    /// waits for the API's first list before it starts on DNS. Defaults to 10 s.
    #[serde(with = "humantime_serde")]
    pub api_fallback_after: Duration,

    /// [`Source::Auto`]: the least time spent on a source before switching again, so a
    /// flapping API does not flap the peers. Defaults to 60 s.
    #[serde(with = "humantime_serde")]
    pub source_dwell: Duration,
}

/// Where a watch takes its peers from.
///
/// | | DNS | Kubernetes API |
/// |---|---|---|
/// | sees a change after | the record TTL plus CoreDNS's cache (stock: up to ~30 s) | one watch event (milliseconds) |
/// | draining pods, zone, node | no | yes |
/// | needs | nothing | feature `kube`, RBAC: [`RBAC_RULE`](crate::RBAC_RULE) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Source {
    /// The headless Service's DNS records.
    #[default]
    Dns,
    /// The Service's EndpointSlices, listed and watched through the Kubernetes API
    /// (feature `kube`).
    Kube,
    /// The API when it can list the slices, else DNS. It falls back to DNS when the API
    /// fails for `api_fallback_after`, and returns when the API answers again, staying
    /// at least `source_dwell` on each (feature `kube`). [`Watch::source`](crate::Watch::source)
    /// says which is in use and why.
    Auto,
}

impl Source {
    /// The source in words, for logs and messages: `DNS`, `the Kubernetes API`.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Dns => "DNS",
            Source::Kube => "the Kubernetes API",
            Source::Auto => "the Kubernetes API or DNS",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Dns => "dns",
            Source::Kube => "kube",
            Source::Auto => "auto",
        })
    }
}

impl std::str::FromStr for Source {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "dns" => Ok(Source::Dns),
            "kube" => Ok(Source::Kube),
            "auto" => Ok(Source::Auto),
            _ => Err(Error::InvalidConfig(format!(
                "source `{s}` is not one of dns, kube, auto"
            ))),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            nameserver: None,
            namespace: None,
            cluster_domain: None,
            min_refresh: Duration::from_secs(1),
            max_refresh: Duration::from_secs(30),
            jitter: 0.15,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            empty_grace: Duration::from_secs(5),
            refresh_debounce: Duration::from_millis(500),
            query_timeout: Duration::from_secs(2),
            max_concurrent_lookups: 16,
            source: Source::Dns,
            kubeconfig: None,
            api_silence_timeout: Duration::from_secs(90),
            api_fallback_after: Duration::from_secs(10),
            source_dwell: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// The defaults: the system's (or `$DISCOVERY_NAMESERVER`'s) DNS server, the pod's
    /// namespace and cluster domain, refresh between 1 s and 30 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask this DNS server instead of those in `/etc/resolv.conf`.
    #[must_use]
    pub fn nameserver(mut self, nameserver: SocketAddr) -> Self {
        self.nameserver = Some(nameserver);
        self
    }

    /// Complete names that give no namespace with this one.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Complete names that give no cluster domain with this one.
    #[must_use]
    pub fn cluster_domain(mut self, domain: impl Into<String>) -> Self {
        self.cluster_domain = Some(domain.into());
        self
    }

    /// Refresh no sooner than `min` and no later than `max` after the last answer,
    /// whatever its TTL says.
    #[must_use]
    pub fn refresh(mut self, min: Duration, max: Duration) -> Self {
        self.min_refresh = min;
        self.max_refresh = max;
        self
    }

    /// Take peers from `source`.
    #[must_use]
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Read this kubeconfig for the API source instead of inferring one.
    #[must_use]
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// Checks that the values make sense together.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::InvalidConfig(msg));
        if self.min_refresh.is_zero() {
            return fail("min_refresh must be above zero (a zero TTL would spin)".into());
        }
        if self.min_refresh > self.max_refresh {
            return fail(format!(
                "min_refresh ({:?}) is above max_refresh ({:?})",
                self.min_refresh, self.max_refresh
            ));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return fail(format!("jitter must be in [0, 1), got {}", self.jitter));
        }
        if self.backoff_initial.is_zero() || self.backoff_initial > self.backoff_max {
            return fail(format!(
                "backoff_initial ({:?}) must be above zero and at most backoff_max ({:?})",
                self.backoff_initial, self.backoff_max
            ));
        }
        if self.query_timeout.is_zero() {
            return fail("query_timeout must be above zero".into());
        }
        if self.max_concurrent_lookups == 0 {
            return fail("max_concurrent_lookups must be at least 1".into());
        }
        if self.source != Source::Dns && !cfg!(feature = "kube") {
            return fail(format!(
                "source `{}` needs headless-discovery built with the `kube` feature",
                self.source
            ));
        }
        if let Some(namespace) = &self.namespace {
            check_label(namespace, namespace, LabelRole::Namespace)
                .map_err(|e| Error::InvalidConfig(format!("namespace: {}", e.reason())))?;
        }
        if let Some(domain) = &self.cluster_domain {
            let trimmed = domain.trim_end_matches('.');
            for label in trimmed.split('.') {
                check_label(domain, label, LabelRole::Domain)
                    .map_err(|e| Error::InvalidConfig(format!("cluster_domain: {}", e.reason())))?;
            }
        }
        Ok(())
    }

    /// The nameserver to use: the field, else `$DISCOVERY_NAMESERVER`, else `None`
    /// (the system's).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the variable is set but is not `ip:port`.
    pub fn effective_nameserver(&self) -> Result<Option<SocketAddr>> {
        if let Some(ns) = self.nameserver {
            return Ok(Some(ns));
        }
        match std::env::var(NAMESERVER_ENV) {
            Ok(value) if !value.trim().is_empty() => value.trim().parse().map(Some).map_err(|_| {
                Error::InvalidConfig(format!(
                    "{NAMESERVER_ENV}=`{value}` is not an address; write it as ip:port, e.g. 127.0.0.1:5353 or [::1]:5353"
                ))
            }),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_with_defaults_and_human_durations() {
        let config: Config = serde_json::from_str(
            r#"{ "min_refresh": "250ms", "empty_grace": "2s", "nameserver": "127.0.0.1:5353" }"#,
        )
        .expect("valid config");
        assert_eq!(config.min_refresh, Duration::from_millis(250));
        assert_eq!(config.empty_grace, Duration::from_secs(2));
        assert_eq!(config.max_refresh, Config::default().max_refresh);
        assert_eq!(
            config.nameserver,
            Some("127.0.0.1:5353".parse().expect("addr"))
        );
        config.validate().expect("valid");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Config>(r#"{ "min_refesh": "1s" }"#).expect_err("typo");
        assert!(err.to_string().contains("min_refesh"));
    }

    #[test]
    fn validation_names_the_field() {
        let config = Config {
            min_refresh: Duration::from_secs(60),
            ..Config::default()
        };
        let err = config.validate().expect_err("min above max");
        assert!(err.to_string().contains("min_refresh"));

        let config = Config {
            jitter: 1.5,
            ..Config::default()
        };
        assert!(
            config
                .validate()
                .expect_err("jitter")
                .to_string()
                .contains("jitter")
        );
    }
}
