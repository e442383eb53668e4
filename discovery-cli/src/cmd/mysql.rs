//! `discovery mysql topology`: what every pod of a MySQL/MariaDB StatefulSet says it is.

use discovery_mysql::{MySqlCluster, MySqlConfig, MySqlTls, PrimaryChoice, Secret, Topology};

use super::follow::Leader;
use crate::args::MySqlTopology;
use crate::exit::Failure;
use crate::output::aligned;

/// Exits 0 with one master/primary, 3 with none or several, 1 when no pod could be probed.
pub(crate) async fn topology(args: MySqlTopology) -> Result<(), Failure> {
    let (discovery, name) = super::client(&args.target)?;
    let mut config = MySqlConfig::default();
    config.user = args.user.clone();
    if let Some(var) = &args.password_env {
        config.password = Some(Secret::new(super::password(var)?));
    }
    if let Some(ca) = &args.tls_ca {
        config.tls = Some(MySqlTls::with_ca_file(ca));
    }
    let cluster = MySqlCluster::connect(&discovery, name, config)
        .await
        .map_err(Failure::adapter)?;
    super::follow::follow(
        cluster.topology_changes(),
        args.target.json,
        args.watch,
        super::follow::Views {
            summary,
            table,
            verdict,
        },
    )
    .await
}

fn verdict(topology: &Topology) -> Result<(), Failure> {
    let leader = match &topology.primary {
        PrimaryChoice::One(_) => Leader::One,
        PrimaryChoice::None => Leader::None,
        PrimaryChoice::Ambiguous(keys) => Leader::Several(keys),
    };
    let unprobed = topology.pods.iter().map(|p| {
        if p.report.is_none() {
            p.error.as_deref()
        } else {
            None
        }
    });
    super::follow::verdict("primary", leader, unprobed)
}

/// What a person watching cares about: roles, threads, health, the primary.
fn summary(topology: &Topology) -> Vec<String> {
    let mut lines: Vec<String> = topology
        .pods
        .iter()
        .map(|p| {
            let replication = p.report.as_ref().and_then(|r| r.replication.as_ref());
            format!(
                "{} {} {:?} {:?} {:?} {:?}",
                p.peer.fqdn(),
                p.peer.addr(),
                p.role(),
                replication.map(|r| (&r.io_running, &r.sql_running)),
                p.lag().is_some(),
                p.error.is_some()
            )
        })
        .collect();
    lines.push(format!("{:?}", topology.primary));
    lines
}

pub(crate) fn table(topology: &Topology) -> String {
    let primary = topology.primary().map(|p| p.peer.key());
    let rows: Vec<Vec<String>> = topology
        .pods
        .iter()
        .map(|p| {
            let dash = || "-".to_owned();
            let report = p.report.as_ref();
            let replication = report.and_then(|r| r.replication.as_ref());
            vec![
                p.peer.ordinal().map_or_else(dash, |o| o.to_string()),
                p.peer.fqdn().to_owned(),
                p.peer.addr().to_string(),
                report.map_or_else(dash, |r| if r.read_only { "ON" } else { "OFF" }.to_owned()),
                match (report, &p.error) {
                    (Some(r), _) => r.role().to_string(),
                    (None, Some(e)) => format!("down: {e}"),
                    (None, None) => "unknown".to_owned(),
                },
                replication.map_or_else(dash, |r| {
                    format!(
                        "io={} sql={}",
                        r.io_running.as_deref().unwrap_or("?"),
                        r.sql_running.as_deref().unwrap_or("?")
                    )
                }),
                match (replication, p.lag()) {
                    (None, _) => dash(),
                    (Some(_), Some(lag)) => format!("{} s", lag.as_secs()),
                    (Some(_), None) => "NULL".to_owned(),
                },
                report
                    .and_then(|r| r.gtid_position.clone())
                    .unwrap_or_else(dash),
                if primary.as_ref() == Some(&p.peer.key()) {
                    "*".to_owned()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let verdict = match &topology.primary {
        PrimaryChoice::One(key) => format!("primary: {key}"),
        PrimaryChoice::None => {
            "primary: none (writes wait up to failover_wait, then fail)".to_owned()
        }
        PrimaryChoice::Ambiguous(keys) => format!(
            "primary: ambiguous, several are writable ({}); writes are refused",
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let header = [
        "ORDINAL",
        "POD",
        "ADDRESS",
        "READ_ONLY",
        "ROLE",
        "THREADS",
        "LAG",
        "GTID",
        "PRIMARY",
    ];
    format!("{}\n{verdict}", aligned(&header, &rows))
}
