//! [`Rounds`]: when the prober re-checks the pods behind a watch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::Watch;
use crate::peer::PeerSet;

/// When the prober asks every pod what it is: a round after a jittered `interval` (±15 %,
/// so that many clients do not probe in step), as soon as the watch's pods change, and
/// when `trigger` is notified (an error that says a role moved), no sooner than
/// `debounce` after the previous round. Requests made during a round coalesce into one
/// more.
#[derive(Debug)]
pub(crate) struct Rounds {
    peers: watch::Receiver<PeerSet>,
    interval: Duration,
    debounce: Duration,
    trigger: Arc<Notify>,
    last_round: Instant,
}

impl Rounds {
    /// Paces rounds over `watch`'s pods.
    pub(crate) fn new(
        watch: &Watch,
        interval: Duration,
        debounce: Duration,
        trigger: Arc<Notify>,
    ) -> Self {
        let mut peers = watch.peer_changes();
        peers.borrow_and_update();
        Self {
            peers,
            interval,
            debounce,
            trigger,
            last_round: Instant::now(),
        }
    }

    /// Waits until the next round is due: `true`, or `false` once the watch has ended.
    pub(crate) async fn next(&mut self) -> bool {
        let delay = self.interval.mul_f64(rand::random_range(0.85..=1.15));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.trigger.notified() => {
                tokio::time::sleep_until(self.last_round + self.debounce).await;
            }
            changed = self.peers.changed() => {
                if changed.is_err() {
                    return false;
                }
                self.peers.borrow_and_update();
            }
        }
        self.last_round = Instant::now();
        true
    }
}
