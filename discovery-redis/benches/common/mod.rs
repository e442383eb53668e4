#![allow(dead_code, reason = "each bench uses a different part")]
//! Shared bench setup: a testkit cluster, a Redis StatefulSet, a router.

use headless_discovery::{Config, Discovery};
use headless_discovery_redis::{RedisConfig, RedisRouter};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};

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
