//! The engine's background task: probe every pod, choose the leader, publish the topology.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::debug;

use super::changes::ChangeLog;
use super::rounds::{RoundRequests, Rounds};
use super::{PodStatus, Probe, RoleOpts, Topology, Verdict};
use crate::{Peer, PeerKey, Watch};

/// Probe rounds, one at a time: on a timer, when discovery changes, and when a request
/// met a refusal or a dropped connection (`requests`).
pub(super) struct Prober<P: Probe> {
    pub(super) watch: Watch,
    pub(super) probe: Arc<P>,
    pub(super) opts: Arc<RoleOpts>,
    pub(super) topology: watch::Sender<Arc<Topology<P::Report>>>,
    pub(super) requests: Arc<RoundRequests>,
    /// The engine's own connection per pod, by address: a pod back with a new IP is
    /// dialled afresh.
    pub(super) conns: HashMap<PeerKey, (SocketAddr, P::Conn)>,
    pub(super) log: ChangeLog,
}

impl<P: Probe> Prober<P> {
    /// Runs until aborted (the last handle going away) or the watch ends.
    pub(super) async fn run(mut self) {
        let mut rounds = Rounds::new(
            &self.watch,
            self.opts.probe_interval,
            self.opts.probe_debounce,
            Arc::clone(&self.requests),
        );
        while rounds.next().await {
            self.round().await;
        }
    }

    /// Probes every discovered pod at once and publishes what they said.
    pub(super) async fn round(&mut self) {
        let peers = self.watch.peers();
        let mut slots: Vec<(Peer, Option<P::Conn>)> = peers
            .iter()
            .map(|peer| {
                let conn = self
                    .conns
                    .remove(&peer.key())
                    .filter(|(addr, _)| *addr == peer.addr())
                    .map(|(_, conn)| conn);
                (peer.clone(), conn)
            })
            .collect();
        // Pods that left keep nothing: their connections close here.
        self.conns.clear();
        let started = Instant::now();
        let probe = &*self.probe;
        let timeout = self.opts.probe_timeout;
        let probed = futures::future::join_all(
            slots
                .iter_mut()
                .map(|(peer, slot)| probe_one(probe, peer, slot, timeout)),
        )
        .await;
        // A pod whose connection failed may have moved (a replaced pod comes back at a new
        // IP): ask DNS again now rather than at the TTL, or a leader that only moved would
        // stay unknown while nothing else dials it. Refreshes are debounced by the watch.
        if probed.iter().any(|(_, lost)| *lost) {
            self.watch.refresh_now();
        }
        let statuses: Vec<PodStatus<P::Report>> =
            probed.into_iter().map(|(status, _)| status).collect();
        for (peer, slot) in slots {
            if let Some(conn) = slot {
                self.conns.insert(peer.key(), (peer.addr(), conn));
            }
        }
        let topology = Topology::new(statuses, &self.opts, started.elapsed());
        let service = self.watch.service().to_string();
        debug!(store = P::STORE, service, pods = topology.pods.len(), elapsed = ?topology.round, leader = %topology.leader, "probe round");
        let previous = self.topology.borrow().clone();
        self.log.log(P::STORE, &service, &previous, &topology);
        self.probe.round_done(&peers, &topology).await;
        self.topology.send_replace(Arc::new(topology));
    }
}

/// Probes one pod within `timeout`, connecting first if `slot` holds no connection. A pod
/// that fails or does not answer is reported with the reason, and its connection dropped
/// so that the next round reconnects. The flag says the pod may be gone from its address
/// ([`Verdict::pod_lost`]).
async fn probe_one<P: Probe>(
    probe: &P,
    peer: &Peer,
    slot: &mut Option<P::Conn>,
    timeout: Duration,
) -> (PodStatus<P::Report>, bool) {
    let asked = tokio::time::timeout(timeout, async {
        let conn = match slot {
            Some(conn) => conn,
            None => slot.insert(probe.connect(peer).await?),
        };
        let started = Instant::now();
        let report = probe.ask(peer, conn).await?;
        Ok::<_, P::Error>((report, started.elapsed()))
    })
    .await;
    match asked {
        Ok(Ok((report, latency))) => (PodStatus::answered(peer.clone(), report, latency), false),
        Ok(Err(e)) => {
            *slot = None;
            let verdict = probe.verdict(&e);
            let status = if verdict == Verdict::Rejected {
                PodStatus::rejected(peer.clone(), e.to_string())
            } else {
                PodStatus::unanswered(peer.clone(), e.to_string())
            };
            (status, verdict.pod_lost())
        }
        Err(_elapsed) => {
            *slot = None;
            probe.timed_out(peer);
            let status = PodStatus::unanswered(
                peer.clone(),
                format!("{peer}: no answer to the probe within {timeout:?}"),
            );
            (status, false)
        }
    }
}
