//! Shared helpers for the end-to-end tests: a discovery client pointed at a testkit
//! cluster, and waiting for conditions with deadlines instead of sleeping.

#![forbid(unsafe_code)]

pub mod api;
pub mod bind;
pub mod echo;
pub mod pods;
pub mod soak;

use std::future::Future;
use std::time::Duration;

use headless_discovery::{Config, Discovery};
use headless_discovery_testkit::Cluster;

/// A config for tests: the cluster's DNS server, fast refresh, short grace.
pub fn test_config(cluster: &Cluster) -> Config {
    let mut config = Config::default();
    config.nameserver = Some(cluster.dns_addr());
    config.namespace = Some("default".into());
    config.cluster_domain = Some(cluster.domain());
    config.min_refresh = Duration::from_millis(200);
    config.max_refresh = Duration::from_secs(2);
    config.backoff_initial = Duration::from_millis(100);
    config.backoff_max = Duration::from_secs(1);
    config.empty_grace = Duration::from_secs(1);
    config.refresh_debounce = Duration::from_millis(100);
    config.query_timeout = Duration::from_millis(500);
    config
}

/// A discovery client for `cluster` with [`test_config`].
///
/// # Panics
///
/// If the client cannot be built (a bug in the test setup).
pub fn discovery(cluster: &Cluster) -> Discovery {
    discovery_with(test_config(cluster))
}

/// A discovery client with a given config.
///
/// # Panics
///
/// If the client cannot be built (a bug in the test setup).
pub fn discovery_with(config: Config) -> Discovery {
    Discovery::new(config).expect("discovery client for the testkit")
}

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
///
/// # Panics
///
/// When the deadline passes: the condition never held.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the cluster's DNS server has received at least `count` queries for
/// `name`/`rtype` in all, or panics after `deadline`.
///
/// # Panics
///
/// When the deadline passes.
pub async fn wait_for_queries(
    cluster: &Cluster,
    name: &str,
    rtype: headless_discovery_testkit::RecordType,
    count: u64,
    deadline: Duration,
) {
    eventually(
        &format!("{count} queries for {name} {rtype}"),
        deadline,
        || async { (cluster.queries_for(name, rtype) >= count).then_some(()) },
    )
    .await;
}

/// The workspace README's code samples, compiled as doctests here, where every crate
/// they use is at hand, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
