//! `discovery redis|mysql topology`: a role engine's topology, printed once or again
//! whenever what a person cares about changes, in the same shape for every store.

use std::io::Write;
use std::sync::Arc;

use headless_discovery::PeerKey;
use headless_discovery::roles::{LeaderChoice, PodStatus, Report, Topology};
use serde::Serialize;
use tokio::sync::watch;

use crate::exit::Failure;
use crate::output::aligned;

/// What a store adds to the shared view: its word for the leader, and its own columns.
pub(crate) struct Store<R> {
    /// `master`, `primary`.
    pub(crate) leader: &'static str,
    /// Its columns' headers, after ORDINAL, POD, ADDRESS and ROLE.
    pub(crate) columns: &'static [&'static str],
    /// Its role spelling and its columns' cells for one pod that answered.
    pub(crate) cells: fn(&R) -> (String, Vec<String>),
    /// What a person watching cares about in a pod's report: printed again only when it
    /// changes.
    pub(crate) watched: fn(&R) -> String,
    /// How a replica's lag reads.
    pub(crate) lag: fn(&PodStatus<R>) -> String,
}

/// Prints the current topology and judges it; with `watch`, prints it again whenever its
/// summary changes, until Ctrl-C or the prober ends.
pub(crate) async fn follow<R: Report + Serialize>(
    mut changes: watch::Receiver<Arc<Topology<R>>>,
    json: bool,
    watch: bool,
    store: Store<R>,
) -> Result<(), Failure> {
    let summary = |topology: &Topology<R>| summary(&store, topology);
    let print = |topology: &Topology<R>| {
        let mut out = std::io::stdout().lock();
        let text = if json {
            serde_json::to_string(topology).unwrap_or_default()
        } else {
            format!("{}\n", table(&store, topology))
        };
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    let mut shown = changes.borrow_and_update().clone();
    print(&shown);
    if !watch {
        return verdict(store.leader, &shown);
    }
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let next = changes.borrow_and_update().clone();
                if summary(&next) != summary(&shown) {
                    print(&next);
                    shown = next;
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// What a person watching cares about: who is what, and who leads.
fn summary<R: Report>(store: &Store<R>, topology: &Topology<R>) -> Vec<String> {
    let mut lines: Vec<String> = topology
        .pods
        .iter()
        .map(|p| {
            format!(
                "{} {} {:?} {} {:?}",
                p.peer.fqdn(),
                p.peer.addr(),
                p.role(),
                p.report.as_ref().map_or_else(String::new, store.watched),
                p.error.is_some()
            )
        })
        .collect();
    lines.push(format!("{:?}", topology.leader));
    lines
}

/// One row per pod: the shared columns, the store's, and a mark on the leader.
pub(crate) fn table<R: Report>(store: &Store<R>, topology: &Topology<R>) -> String {
    let leader = topology.leader_pod().map(|p| p.peer.key());
    let rows: Vec<Vec<String>> = topology
        .pods
        .iter()
        .map(|p| {
            let dash = || "-".to_owned();
            let (role, cells) = match (&p.report, &p.error) {
                (Some(r), _) => (store.cells)(r),
                (None, Some(e)) => (format!("down: {e}"), Vec::new()),
                (None, None) => ("unknown".to_owned(), Vec::new()),
            };
            let mut row = vec![
                p.peer.ordinal().map_or_else(dash, |o| o.to_string()),
                p.peer.fqdn().to_owned(),
                p.peer.addr().to_string(),
                role,
            ];
            row.extend(cells);
            row.resize(4 + store.columns.len(), dash());
            row.push((store.lag)(p));
            row.push(if leader.as_ref() == Some(&p.peer.key()) {
                "*".to_owned()
            } else {
                String::new()
            });
            row
        })
        .collect();
    let noun = store.leader;
    let verdict = match &topology.leader {
        LeaderChoice::One(key) => format!("{noun}: {key}"),
        LeaderChoice::None => {
            format!("{noun}: none (writes wait up to failover_wait, then fail)")
        }
        LeaderChoice::Ambiguous(keys) => format!(
            "{noun}: ambiguous, several claim it ({}); writes are refused",
            keys.iter()
                .map(PeerKey::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = vec!["ORDINAL", "POD", "ADDRESS", "ROLE"];
    header.extend_from_slice(store.columns);
    let mark = noun.to_ascii_uppercase();
    header.extend_from_slice(&["LAG", mark.as_str()]);
    format!("{}\n{verdict}", aligned(&header, &rows))
}

/// A one-shot check succeeds with exactly one leader. No pod probed at all (all down, a
/// wrong password) is a failure; no leader or several is "nothing to use".
fn verdict<R: Report>(noun: &str, topology: &Topology<R>) -> Result<(), Failure> {
    let mut unprobed = topology
        .pods
        .iter()
        .map(|p| p.report.is_none().then_some(p.error.as_deref()).flatten());
    let pods = unprobed.len();
    let first = unprobed.next().flatten();
    if pods > 0 && first.is_some() && unprobed.all(|e| e.is_some()) {
        return Err(Failure::Failed(format!(
            "no pod could be probed ({pods} tried); the first said: {}",
            first.unwrap_or_default()
        )));
    }
    match &topology.leader {
        LeaderChoice::One(_) => Ok(()),
        LeaderChoice::None if pods == 0 => Err(Failure::NothingToUse(format!(
            "no {noun}: no ready pod, or no such Service"
        ))),
        LeaderChoice::None => Err(Failure::NothingToUse(format!(
            "no {noun}: no pod of {pods} says it is one"
        ))),
        LeaderChoice::Ambiguous(keys) => Err(Failure::NothingToUse(format!(
            "several pods claim to be {noun} ({}); writes are refused",
            keys.iter()
                .map(PeerKey::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
