//! Printing a prober's topology once, or again whenever what a person cares about changes.

use std::io::Write;
use std::sync::Arc;

use discovery::PeerKey;
use serde::Serialize;
use tokio::sync::watch;

use crate::exit::Failure;

/// How a topology's views are drawn and judged.
pub(crate) struct Views<T> {
    /// What a person watching cares about: printed again only when it changes.
    pub(crate) summary: fn(&T) -> Vec<String>,
    /// The table.
    pub(crate) table: fn(&T) -> String,
    /// Whether a one-shot check succeeded (see [`verdict`]).
    pub(crate) verdict: fn(&T) -> Result<(), Failure>,
}

/// Prints the current topology and judges it; with `watch`, prints it again whenever its
/// summary changes, until Ctrl-C or the prober ends.
pub(crate) async fn follow<T: Serialize>(
    mut changes: watch::Receiver<Arc<T>>,
    json: bool,
    watch: bool,
    views: Views<T>,
) -> Result<(), Failure> {
    let Views {
        summary,
        table,
        verdict,
    } = views;
    let print = |topology: &T| {
        let mut out = std::io::stdout().lock();
        let text = if json {
            serde_json::to_string(topology).unwrap_or_default()
        } else {
            format!("{}\n", table(topology))
        };
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    let mut shown = changes.borrow_and_update().clone();
    print(&shown);
    if !watch {
        return verdict(&shown);
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

/// Who leads, as a probe round saw it.
#[derive(Debug)]
pub(crate) enum Leader<'a> {
    One,
    None,
    Several(&'a [PeerKey]),
}

/// A one-shot check succeeds with exactly one leader. No pod probed at all (all down, a
/// wrong password) is a failure; no leader or several is "nothing to use".
///
/// `unprobed` has, for each pod, the error of a pod that gave no report.
pub(crate) fn verdict<'a>(
    noun: &str,
    leader: Leader<'_>,
    mut unprobed: impl ExactSizeIterator<Item = Option<&'a str>>,
) -> Result<(), Failure> {
    let pods = unprobed.len();
    let first = unprobed.next().flatten();
    if pods > 0 && first.is_some() && unprobed.all(|e| e.is_some()) {
        return Err(Failure::Failed(format!(
            "no pod could be probed ({pods} tried); the first said: {}",
            first.unwrap_or_default()
        )));
    }
    match leader {
        Leader::One => Ok(()),
        Leader::None if pods == 0 => Err(Failure::NothingToUse(format!(
            "no {noun}: no ready pod, or no such Service"
        ))),
        Leader::None => Err(Failure::NothingToUse(format!(
            "no {noun}: no pod of {pods} says it is one"
        ))),
        Leader::Several(keys) => Err(Failure::NothingToUse(format!(
            "several pods claim to be {noun} ({}); writes are refused",
            keys.iter()
                .map(PeerKey::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
