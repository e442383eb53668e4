#![allow(dead_code, reason = "each bench uses a different part")]
//! Shared bench setup: a testkit cluster, a MariaDB StatefulSet, a cluster handle.

use headless_discovery::{Config, Discovery};
use headless_discovery_mysql::{MySqlConfig, MySqlRouter};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};

/// A running MariaDB StatefulSet and a cluster handle over it.
pub(crate) struct Bench {
    pub(crate) cluster: Cluster,
    pub(crate) mysql: MariaDbStatefulSet,
    pub(crate) handle: MySqlRouter,
    pub(crate) discovery: Discovery,
}

/// The app user's config with `adjust` applied.
pub(crate) async fn start(spec: MariaDbSpec, adjust: impl FnOnce(&mut MySqlConfig)) -> Bench {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let mysql = MariaDbStatefulSet::start(&cluster, spec)
        .await
        .expect("mariadb pods");
    let mut dns = Config::default();
    dns.nameserver = Some(cluster.dns_addr());
    dns.namespace = Some("default".into());
    dns.cluster_domain = Some("cluster.local".into());
    let discovery = Discovery::new(dns).expect("discovery");
    let mut config = MySqlConfig::new(mysql.user(), mysql.password()).database(mysql.database());
    adjust(&mut config);
    let handle = MySqlRouter::connect(&discovery, mysql.service_name().as_str(), config)
        .await
        .expect("cluster handle");
    Bench {
        cluster,
        mysql,
        handle,
        discovery,
    }
}
