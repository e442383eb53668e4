#![allow(dead_code, reason = "each bench uses a different part")]
//! Shared bench setup: a testkit cluster, a Redis StatefulSet, a router.

use std::time::Duration;

use discovery::{Config, Discovery};
use discovery_redis::{RedisConfig, RedisRouter};
use discovery_testkit::Cluster;
use discovery_testkit::redis::{RedisSpec, RedisStatefulSet};

/// A running Redis StatefulSet and a router over it.
#[allow(dead_code, reason = "each bench uses a different part")]
pub(crate) struct Bench {
    pub(crate) cluster: Cluster,
    pub(crate) redis: RedisStatefulSet,
    pub(crate) router: RedisRouter,
}

pub(crate) async fn start(spec: RedisSpec, config: RedisConfig) -> Bench {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let redis = RedisStatefulSet::start(&cluster, spec)
        .await
        .expect("redis pods");
    let mut dns = Config::default();
    dns.nameserver = Some(cluster.dns_addr());
    dns.namespace = Some("default".into());
    dns.cluster_domain = Some("cluster.local".into());
    let discovery = Discovery::new(dns).expect("discovery");
    let router = RedisRouter::connect(&discovery, redis.service_name().as_str(), config)
        .await
        .expect("router");
    Bench {
        cluster,
        redis,
        router,
    }
}

/// The value at quantile `q` of sorted durations.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
