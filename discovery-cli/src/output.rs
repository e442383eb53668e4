//! Printing peers as a table or as JSON.

use headless_discovery::{Peer, PeerEvent, PeerSet};
use serde_json::{Value, json};

/// The peers as an aligned table.
pub(crate) fn table(peers: &PeerSet) -> String {
    let rows: Vec<[String; 5]> = peers.iter().map(row).collect();
    let header = ["ORDINAL", "HOSTNAME", "IP", "PORT", "FQDN"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String; 5]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out
    };
    let mut out = line(&header);
    for r in &rows {
        out.push('\n');
        out.push_str(&line(r));
    }
    out
}

fn row(peer: &Peer) -> [String; 5] {
    [
        peer.ordinal()
            .map_or_else(|| "-".to_owned(), |o| o.to_string()),
        peer.hostname().to_owned(),
        peer.ip().to_string(),
        peer.port().to_string(),
        peer.fqdn().to_owned(),
    ]
}

/// One peer as a JSON object: `ordinal` (number or null), `hostname`, `fqdn`, `ip`, `port`.
pub(crate) fn peer_json(peer: &Peer) -> Value {
    serde_json::to_value(peer).unwrap_or(Value::Null)
}

/// One event as a JSON object: `event`, `peer`, and `old` for a change.
pub(crate) fn event_json(event: &PeerEvent) -> Value {
    let mut value = json!({ "event": event.kind(), "peer": peer_json(event.peer()) });
    if let PeerEvent::Changed { old, .. } = event {
        value["old"] = peer_json(old);
    }
    value
}

/// One event as a line for people.
pub(crate) fn event_line(event: &PeerEvent) -> String {
    match event {
        PeerEvent::Added(p) => format!("+ added    {}", describe(p)),
        PeerEvent::Removed(p) => format!("- removed  {}", describe(p)),
        PeerEvent::Changed { old, new } => {
            format!("~ changed  {} (was {})", describe(new), old.addr())
        }
        other => format!("? {}  {}", other.kind(), describe(other.peer())),
    }
}

fn describe(peer: &Peer) -> String {
    let mut line = match peer.ordinal() {
        Some(o) => format!("{} ordinal {o} at {}", peer.hostname(), peer.addr()),
        None => format!("{} at {}", peer.hostname(), peer.addr()),
    };
    if let Some(zone) = peer.zone() {
        line.push_str(&format!(" zone {zone}"));
    }
    if peer.is_draining() {
        line.push_str(" draining");
    }
    line
}

/// Rows under a header, columns aligned, trailing blanks trimmed.
pub(crate) fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
