//! [`Rounds`]: when the prober re-checks the pods behind a watch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::Watch;
use crate::peer::PeerSet;

/// Requests for a probe round, from requests that met a refusal or a dropped connection.
/// Counted, so that a request the round about to start already answers leaves no round
/// pending for later (one that would probe at a moment nothing asked for).
#[derive(Debug, Default)]
pub(crate) struct RoundRequests {
    notify: Notify,
    asked: AtomicU64,
}

impl RoundRequests {
    /// Asks for a round.
    pub(crate) fn ask(&self) {
        self.asked.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_one();
    }

    fn asked(&self) -> u64 {
        self.asked.load(Ordering::Acquire)
    }
}

/// When the prober asks every pod what it is: a round after a jittered `interval` (±15 %,
/// so that many clients do not probe in step), as soon as the watch's pods change, and
/// when `requests` asks (an error that says a role moved), no sooner than `debounce`
/// after the previous round. Requests made during a round coalesce into one more; those
/// made before a round starts are answered by it.
#[derive(Debug)]
pub(crate) struct Rounds {
    peers: watch::Receiver<PeerSet>,
    interval: Duration,
    debounce: Duration,
    requests: Arc<RoundRequests>,
    /// How many requests had been made when the last round started.
    answered: u64,
    last_round: Instant,
}

impl Rounds {
    /// Paces rounds over `watch`'s pods.
    pub(crate) fn new(
        watch: &Watch,
        interval: Duration,
        debounce: Duration,
        requests: Arc<RoundRequests>,
    ) -> Self {
        let mut peers = watch.peer_changes();
        peers.borrow_and_update();
        Self {
            peers,
            interval,
            debounce,
            // The task may start after requests were made: none of them is answered yet
            // (the round before the task answered none).
            answered: 0,
            requests,
            last_round: Instant::now(),
        }
    }

    /// Waits until the next round is due: `true`, or `false` once the watch has ended.
    pub(crate) async fn next(&mut self) -> bool {
        let delay = self.interval.mul_f64(rand::random_range(0.85..=1.15));
        let timer = tokio::time::sleep(delay);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                () = &mut timer => break,
                () = self.requests.notify.notified() => {
                    // A permit left by a request that the last round answered.
                    if self.requests.asked() == self.answered {
                        continue;
                    }
                    tokio::time::sleep_until(self.last_round + self.debounce).await;
                    break;
                }
                changed = self.peers.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                    self.peers.borrow_and_update();
                    break;
                }
            }
        }
        self.answered = self.requests.asked();
        self.last_round = Instant::now();
        true
    }
}
