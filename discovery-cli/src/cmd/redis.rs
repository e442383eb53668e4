//! `discovery redis topology`: what every pod of a Redis StatefulSet says it is.

use headless_discovery_redis::{PodStatus, RedisConfig, RedisRouter, RoleReport, Secret, Tls};

use super::topology::Store;
use crate::args::RedisTopology;
use crate::exit::Failure;

/// Exits 0 with one master/primary, 3 with none or several, 1 when no pod could be probed.
pub(crate) async fn topology(args: RedisTopology) -> Result<(), Failure> {
    let (discovery, name) = super::client(&args.target)?;
    let mut config = RedisConfig::default();
    config.username = args.user.clone();
    if let Some(var) = &args.password_env {
        config.password = Some(Secret::new(super::password(var)?));
    }
    if let Some(ca) = &args.tls_ca {
        config.tls = Some(Tls::with_ca_file(ca));
    }
    let router = RedisRouter::connect(&discovery, name, config)
        .await
        .map_err(Failure::adapter)?;
    super::topology::follow(
        router.roles().topology_changes(),
        args.target.json,
        args.watch,
        store(),
    )
    .await
}

/// Redis's view: its word for the leader and its own columns.
pub(crate) fn store() -> Store<RoleReport> {
    Store {
        leader: "master",
        columns: &["OFFSET", "LINK"],
        cells,
        watched: |r: &RoleReport| format!("{:?}", r.link_up),
        lag,
    }
}

/// The topology as a table, for the demo.
#[cfg(feature = "demo")]
pub(crate) fn table(topology: &headless_discovery_redis::Topology) -> String {
    super::topology::table(&store(), topology)
}

/// Its role in Redis's words, its offset and its link to the master.
fn cells(report: &RoleReport) -> (String, Vec<String>) {
    let dash = || "-".to_owned();
    let role = if report.loading {
        format!("{} (loading)", report.role)
    } else {
        report.role.to_string()
    };
    let offset = report.offset.map_or_else(dash, |o| o.to_string());
    let link = report
        .link_up
        .map_or_else(dash, |up| if up { "up" } else { "down" }.to_owned());
    (role, vec![offset, link])
}

fn lag(pod: &PodStatus) -> String {
    match (pod.lag.bytes, pod.lag.time) {
        (Some(b), Some(t)) => format!("{b} B, {} s", t.as_secs()),
        (Some(b), None) => format!("{b} B"),
        _ => "-".to_owned(),
    }
}
