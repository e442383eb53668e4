//! Printing a prober's topology once, or again whenever what a person cares about changes.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

/// Prints the current topology; with `watch`, prints it again whenever `summary` of it
/// changes, until Ctrl-C or the prober ends.
pub(crate) async fn follow<T: Serialize>(
    mut changes: watch::Receiver<Arc<T>>,
    json: bool,
    watch: bool,
    summary: impl Fn(&T) -> Vec<String>,
    table: impl Fn(&T) -> String,
) -> Result<(), String> {
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
        return Ok(());
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
