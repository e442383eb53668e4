//! Shared setup: a testkit cluster with a Redis StatefulSet, and a router over it.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::collections::BTreeMap;
use std::time::Duration;

use headless_discovery::{Config, Discovery};
use headless_discovery_redis::{RedisConfig, RedisRouter};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};

pub(crate) struct Setup {
    pub(crate) cluster: Cluster,
    pub(crate) redis: RedisStatefulSet,
    pub(crate) discovery: Discovery,
}

pub(crate) async fn setup(spec: RedisSpec) -> Setup {
    setup_with_dns(spec, 1, Duration::from_millis(200)).await
}

/// [`setup`] with records of TTL `ttl` seconds, and the client resolving again no sooner
/// than `min_refresh` unless asked to.
pub(crate) async fn setup_with_dns(spec: RedisSpec, ttl: u32, min_refresh: Duration) -> Setup {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::builder().ttl(ttl).start().await.expect("cluster");
    let redis = RedisStatefulSet::start(&cluster, spec)
        .await
        .expect("redis pods");
    let mut config = Config::default();
    config.nameserver = Some(cluster.dns_addr());
    config.namespace = Some("default".into());
    config.cluster_domain = Some("cluster.local".into());
    config.min_refresh = min_refresh;
    config.max_refresh = config.max_refresh.max(min_refresh);
    config.empty_grace = Duration::from_secs(1);
    let discovery = Discovery::new(config).expect("discovery");
    Setup {
        cluster,
        redis,
        discovery,
    }
}

pub(crate) fn fast_config() -> RedisConfig {
    let mut config = RedisConfig::default();
    config.roles.probe_interval = Duration::from_millis(200);
    config.roles.failover_wait = Duration::from_secs(5);
    config.connect_timeout = Duration::from_millis(500);
    config.response_timeout = Duration::from_secs(1);
    config
}

impl Setup {
    pub(crate) async fn router(&self, config: RedisConfig) -> RedisRouter {
        RedisRouter::connect(&self.discovery, self.redis.service_name().as_str(), config)
            .await
            .expect("router")
    }

    /// A router over a set whose only replica, pod 1, has been killed and seen down.
    pub(crate) async fn router_without_replica(&self, config: RedisConfig) -> RedisRouter {
        let router = self.router(config).await;
        self.redis.kill(1).expect("kill the only replica");
        router.refresh();
        eventually("no fit replica", Duration::from_secs(5), || async {
            router.topology().fit_replicas().is_empty()
        })
        .await;
        router
    }

    /// `INFO commandstats` of one pod: command → (calls, rejected_calls).
    pub(crate) async fn command_stats(&self, ordinal: u32) -> BTreeMap<String, (u64, u64)> {
        let mut conn = self
            .redis
            .connect(ordinal)
            .await
            .expect("direct connection");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .expect("INFO");
        info.lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(name, fields)| {
                let field = |key: &str| {
                    fields
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(key))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                };
                (name.to_owned(), (field("calls="), field("rejected_calls=")))
            })
            .collect()
    }

    pub(crate) async fn calls(&self, ordinal: u32, command: &str) -> u64 {
        self.command_stats(ordinal)
            .await
            .get(command)
            .map_or(0, |(calls, _)| *calls)
    }

    pub(crate) async fn rejected(&self, ordinal: u32, command: &str) -> u64 {
        self.command_stats(ordinal)
            .await
            .get(command)
            .map_or(0, |(_, rejected)| *rejected)
    }

    pub(crate) async fn reset_stats(&self) {
        for pod in self.redis.statefulset().pods() {
            if let Ok(mut conn) = self.redis.connect(pod.ordinal).await {
                let _: redis::RedisResult<()> = redis::cmd("CONFIG")
                    .arg("RESETSTAT")
                    .query_async(&mut conn)
                    .await;
            }
        }
    }
}

/// Waits until `check` holds, or panics after `deadline`.
pub(crate) async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
