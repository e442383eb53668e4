//! `discovery mysql topology`: what every pod of a MySQL/MariaDB StatefulSet says it is.

use headless_discovery_mysql::{MySqlConfig, MySqlRouter, PodStatus, Secret, ServerReport, Tls};

use super::topology::Store;
use crate::args::MySqlTopology;
use crate::exit::Failure;

/// Exits 0 with one master/primary, 3 with none or several, 1 when no pod could be probed.
pub(crate) async fn topology(args: MySqlTopology) -> Result<(), Failure> {
    let (discovery, name) = super::client(&args.target)?;
    let mut config = MySqlConfig::default();
    config.user = args.user.clone();
    if let Some(var) = &args.password_env {
        config.password = Some(Secret::new(super::password(var)?));
    }
    if let Some(ca) = &args.tls_ca {
        config.tls = Some(Tls::with_ca_file(ca));
    }
    let cluster = MySqlRouter::connect(&discovery, name, config)
        .await
        .map_err(Failure::adapter)?;
    super::topology::follow(
        cluster.roles().topology_changes(),
        args.target.json,
        args.watch,
        store(),
    )
    .await
}

/// MySQL's view: its word for the leader and its own columns.
pub(crate) fn store() -> Store<ServerReport> {
    Store {
        leader: "primary",
        columns: &["READ_ONLY", "THREADS", "GTID"],
        cells,
        watched: |r: &ServerReport| {
            format!(
                "{:?}",
                r.replication
                    .as_ref()
                    .map(|r| (&r.io_running, &r.sql_running))
            )
        },
        lag,
    }
}

/// The topology as a table, for the demo.
#[cfg(feature = "demo")]
pub(crate) fn table(topology: &headless_discovery_mysql::Topology) -> String {
    super::topology::table(&store(), topology)
}

/// Its role in MySQL's words, `read_only`, its replication threads and GTID position.
fn cells(report: &ServerReport) -> (String, Vec<String>) {
    let dash = || "-".to_owned();
    let read_only = if report.read_only { "ON" } else { "OFF" }.to_owned();
    let threads = report.replication.as_ref().map_or_else(dash, |r| {
        format!("io={} sql={}", r.io_running, r.sql_running)
    });
    let gtid = report.gtid_position.clone().unwrap_or_else(dash);
    (report.role().to_string(), vec![read_only, threads, gtid])
}

fn lag(pod: &PodStatus) -> String {
    let replicates = pod.report.as_ref().is_some_and(|r| r.replication.is_some());
    match (replicates, pod.lag.time) {
        (false, _) => "-".to_owned(),
        (true, Some(lag)) => format!("{} s", lag.as_secs()),
        (true, None) => "NULL".to_owned(),
    }
}
