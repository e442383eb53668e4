//! Shared setup: a testkit cluster with a MariaDB StatefulSet, and a cluster handle over it.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::collections::BTreeMap;
use std::time::Duration;

use headless_discovery::{Config, Discovery};
use headless_discovery_mysql::{MySqlConfig, MySqlRouter};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::prelude::Queryable;

pub(crate) struct Setup {
    pub(crate) cluster: Cluster,
    pub(crate) mysql: MariaDbStatefulSet,
    pub(crate) discovery: Discovery,
}

pub(crate) async fn setup(spec: MariaDbSpec) -> Setup {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let mysql = MariaDbStatefulSet::start(&cluster, spec)
        .await
        .expect("mariadb pods");
    let mut config = Config::default();
    config.nameserver = Some(cluster.dns_addr());
    config.namespace = Some("default".into());
    config.cluster_domain = Some("cluster.local".into());
    config.min_refresh = Duration::from_millis(200);
    config.empty_grace = Duration::from_secs(1);
    let discovery = Discovery::new(config).expect("discovery");
    Setup {
        cluster,
        mysql,
        discovery,
    }
}

impl Setup {
    /// The app user's config, probing every 200 ms.
    pub(crate) fn config(&self) -> MySqlConfig {
        let mut config = MySqlConfig::new(self.mysql.user(), self.mysql.password())
            .database(self.mysql.database());
        config.roles.probe_interval = Duration::from_millis(200);
        config.connect_timeout = Duration::from_secs(1);
        config.query_timeout = Duration::from_secs(5);
        config
    }

    pub(crate) async fn connect(&self, config: MySqlConfig) -> MySqlRouter {
        MySqlRouter::connect(&self.discovery, self.mysql.service_name().as_str(), config)
            .await
            .expect("cluster handle")
    }

    /// Creates `t (id, v, written_on)` on the primary and waits until every replica has it.
    pub(crate) async fn create_table(&self, primary: u32) {
        self.mysql
            .execute(
                primary,
                &["CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT, written_on INT)"],
            )
            .await
            .expect("create table");
        self.mysql.wait_for_replication().await.expect("replicated");
    }

    /// `written_on` (the server id that executed each insert) → rows, as one pod sees it.
    pub(crate) async fn writers(&self, ordinal: u32) -> BTreeMap<u32, u64> {
        let mut admin = self.mysql.admin(ordinal).await.expect("admin");
        admin
            .query::<(u32, u64), _>("SELECT written_on, COUNT(*) FROM app.t GROUP BY written_on")
            .await
            .expect("count writers")
            .into_iter()
            .collect()
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
