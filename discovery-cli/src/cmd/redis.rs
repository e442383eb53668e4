//! `discovery redis topology`: what every pod of a Redis StatefulSet says it is.

use discovery_redis::{MasterChoice, RedisConfig, RedisRouter, RedisTls, Secret, Topology};

use super::follow::Leader;
use crate::args::RedisTopology;
use crate::exit::Failure;
use crate::output::aligned;

/// Exits 0 with one master/primary, 3 with none or several, 1 when no pod could be probed.
pub(crate) async fn topology(args: RedisTopology) -> Result<(), Failure> {
    let (discovery, name) = super::client(&args.target)?;
    let mut config = RedisConfig::default();
    config.username = args.user.clone();
    if let Some(var) = &args.password_env {
        config.password = Some(Secret::new(super::password(var)?));
    }
    if let Some(ca) = &args.tls_ca {
        config.tls = Some(RedisTls::with_ca_file(ca));
    }
    let router = RedisRouter::connect(&discovery, name, config)
        .await
        .map_err(Failure::adapter)?;
    super::follow::follow(
        router.topology_changes(),
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
    let leader = match &topology.master {
        MasterChoice::One(_) => Leader::One,
        MasterChoice::None => Leader::None,
        MasterChoice::Ambiguous(keys) => Leader::Several(keys),
    };
    let unprobed = topology.pods.iter().map(|p| {
        if p.report.is_none() {
            p.error.as_deref()
        } else {
            None
        }
    });
    super::follow::verdict("master", leader, unprobed)
}

/// What a person watching cares about: who is what, who is linked, who is master.
fn summary(topology: &Topology) -> Vec<String> {
    let mut lines: Vec<String> = topology
        .pods
        .iter()
        .map(|p| {
            format!(
                "{} {} {:?} {:?} {:?}",
                p.peer.fqdn(),
                p.peer.addr(),
                p.role(),
                p.link_up(),
                p.error.is_some()
            )
        })
        .collect();
    lines.push(format!("{:?}", topology.master));
    lines
}

pub(crate) fn table(topology: &Topology) -> String {
    let master_key = match &topology.master {
        MasterChoice::One(key) => Some(key.clone()),
        _ => None,
    };
    let rows: Vec<Vec<String>> = topology
        .pods
        .iter()
        .map(|p| {
            let dash = || "-".to_owned();
            vec![
                p.peer.ordinal().map_or_else(dash, |o| o.to_string()),
                p.peer.fqdn().to_owned(),
                p.peer.addr().to_string(),
                match (&p.report, &p.error) {
                    (Some(r), _) if r.loading => format!("{} (loading)", r.role),
                    (Some(r), _) => r.role.to_string(),
                    (None, Some(e)) => format!("down: {e}"),
                    (None, None) => "unknown".to_owned(),
                },
                p.report
                    .as_ref()
                    .and_then(|r| r.offset)
                    .map_or_else(dash, |o| o.to_string()),
                match (p.lag_bytes, p.lag_seconds) {
                    (Some(b), Some(s)) => format!("{b} B, {s} s"),
                    (Some(b), None) => format!("{b} B"),
                    _ => dash(),
                },
                p.link_up()
                    .map_or_else(dash, |up| if up { "up" } else { "down" }.to_owned()),
                if master_key.as_ref() == Some(&p.peer.key()) {
                    "*".to_owned()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let verdict = match &topology.master {
        MasterChoice::One(key) => format!("master: {key}"),
        MasterChoice::None => {
            "master: none (writes wait up to failover_wait, then fail)".to_owned()
        }
        MasterChoice::Ambiguous(keys) => format!(
            "master: ambiguous, several claim it ({}); writes are refused",
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let header = [
        "ORDINAL", "POD", "ADDRESS", "ROLE", "OFFSET", "LAG", "LINK", "MASTER",
    ];
    format!("{}\n{verdict}", aligned(&header, &rows))
}
