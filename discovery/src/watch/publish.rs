//! [`Publisher`]: what every source of peers does with what it learned. It diffs and
//! publishes snapshots, holds the empty set back for the grace period, and keeps
//! [`Health`] current.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use super::Health;
use crate::config::Source;
use crate::error::Error;
use crate::name::HeadlessService;
use crate::peer::PeerSet;

/// The sending side of one watch, shared by the DNS refresher and the API follower so
/// that both keep the same promises: last known good on failure, grace before empty.
#[derive(Debug)]
pub(crate) struct Publisher {
    pub(crate) service: HeadlessService,
    /// DNS or the Kubernetes API: what health and the logs name.
    source: Source,
    peers: watch::Sender<PeerSet>,
    health: watch::Sender<Health>,
    empty_grace: Duration,
    /// When "no ready pod" started while we still had peers (the grace period's start).
    empty_since: Option<Instant>,
    last_success: Option<Instant>,
    /// Records dropped so far for naming no pod of this Service.
    rejected: u64,
}

impl Publisher {
    pub(crate) fn new(
        service: HeadlessService,
        source: Source,
        peers: watch::Sender<PeerSet>,
        health: watch::Sender<Health>,
        empty_grace: Duration,
    ) -> Self {
        Self {
            service,
            source,
            peers,
            health,
            empty_grace,
            empty_since: None,
            last_success: None,
            rejected: 0,
        }
    }

    /// The peers published last.
    #[cfg(feature = "kube")]
    pub(crate) fn current(&self) -> PeerSet {
        self.peers.borrow().clone()
    }

    /// Publishes `peers` as they are (a first answer, or one with peers in it).
    pub(crate) fn publish(&mut self, peers: PeerSet) {
        self.empty_since = None;
        let service = &self.service;
        self.peers.send_if_modified(|current| {
            let events = current.diff(&peers);
            if events.is_empty() {
                return false;
            }
            for event in &events {
                let peer = event.peer();
                info!(%service, change = event.kind(), peer = peer.hostname(), ordinal = ?peer.ordinal(), addr = %peer.addr(), draining = peer.is_draining(), "peer changed");
            }
            *current = peers;
            true
        });
    }

    /// No ready pod: publish the empty set only once that has lasted `empty_grace`, so
    /// that a one-replica rollout (old pod gone, new one not ready yet) does not flap.
    /// Returns how long until the grace period ends, if it is running.
    pub(crate) fn no_ready_pods(&mut self) -> Option<Duration> {
        if self.peers.borrow().is_empty() {
            self.empty_since = None;
            return None;
        }
        let now = Instant::now();
        let since = *self.empty_since.get_or_insert(now);
        let waited = now.duration_since(since);
        if waited >= self.empty_grace {
            info!(service = %self.service, grace = ?self.empty_grace, source = self.source.describe(), "no ready pod for the whole grace period; publishing an empty set");
            self.publish(PeerSet::empty());
            return None;
        }
        tracing::debug!(service = %self.service, ?waited, "no ready pod inside the grace period; keeping the peers");
        Some(self.empty_grace - waited)
    }

    /// Counts `n` more records that named no pod of this Service.
    pub(crate) fn add_rejected(&mut self, n: usize) {
        self.rejected += n as u64;
    }

    pub(crate) fn mark_healthy(&mut self) {
        let now = Instant::now();
        self.last_success = Some(now);
        if let Health::Degraded {
            since, failures, ..
        } = &*self.health.borrow()
        {
            warn!(service = %self.service, after = ?since.elapsed(), failures, source = self.source.describe(), "recovered");
        }
        self.set_health(Health::Healthy {
            source: self.source,
            last_success: now,
            rejected: self.rejected,
        });
    }

    /// The source failed for the `failures`-th time in a row: keep the peers, say so.
    pub(crate) fn mark_degraded(&mut self, error: Error, failures: u32) {
        let error = Arc::new(error);
        let since = match &*self.health.borrow() {
            Health::Degraded { since, .. } => *since,
            _ => {
                warn!(service = %self.service, %error, peers = self.peers.borrow().len(), source = self.source.describe(), "failing; keeping the last known peers");
                Instant::now()
            }
        };
        self.set_health(Health::Degraded {
            source: self.source,
            since,
            failures,
            error,
            last_success: self.last_success,
            rejected: self.rejected,
        });
    }

    /// Passes on the health of the source in use (`Auto` forwards its sources').
    #[cfg(feature = "kube")]
    pub(crate) fn forward_health(&self, health: Health) {
        self.set_health(health);
    }

    /// Stores `health`, waking subscribers only when it says something new (a healthy
    /// refresh after a healthy refresh is no news).
    fn set_health(&self, health: Health) {
        self.health.send_if_modified(|current| {
            let news = !current.same_state(&health);
            *current = health;
            news
        });
    }
}
