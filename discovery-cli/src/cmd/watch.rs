//! `discovery watch`: print the ready pods, then every change until Ctrl-C.

use std::io::Write;

use futures::StreamExt;
use headless_discovery::{Health, PeerEvent};

use crate::args::Target;
use crate::exit::Failure;
use crate::output;

pub(crate) async fn run(target: Target) -> Result<(), Failure> {
    let (discovery, name) = super::client(&target)?;
    let watch = discovery.watch(name).await?;
    let mut events = watch.subscribe();
    let mut health = watch.health_changes();
    health.borrow_and_update();

    if target.json {
        for peer in events.snapshot() {
            emit(&output::event_json(&PeerEvent::Added(peer.clone())).to_string());
        }
    } else {
        emit(&format!("watching {}", watch.service()));
        emit(&output::table(events.snapshot()));
    }

    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) if target.json => emit(&output::event_json(&event).to_string()),
                Some(event) => emit(&output::event_line(&event)),
                None => return Ok(()),
            },
            changed = health.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let state = health.borrow_and_update().clone();
                let source = state.source().map_or("the source", |source| source.describe());
                match state {
                    Health::Degraded { .. } => eprintln!("{state}; keeping the last known pods"),
                    Health::Healthy { .. } => eprintln!("{source} answering again"),
                    _ => {}
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Prints a line and flushes, so that a pipe sees each change at once.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
