//! The background task of one watch: resolve, publish, sleep, repeat.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use super::Health;
use super::schedule::Schedule;
use crate::config::Config;
use crate::dns::DnsClient;
use crate::error::{Error, Result};
use crate::name::HeadlessService;
use crate::peer::PeerSet;
use crate::resolve::{Rejected, Resolution, resolve, ttl_or_default};

/// Everything the refresh loop owns. Handles talk to it through the two `watch` channels
/// it publishes on and the `Notify` that asks for an early refresh.
#[derive(Debug)]
pub(crate) struct Refresher {
    dns: DnsClient,
    service: HeadlessService,
    schedule: Schedule,
    empty_grace: Duration,
    refresh_debounce: Duration,
    concurrency: usize,
    peers: watch::Sender<PeerSet>,
    health: watch::Sender<Health>,
    refresh: Arc<Notify>,
    /// When NXDOMAIN started while we still had peers (the grace period's start).
    empty_since: Option<Instant>,
    last_success: Option<Instant>,
    /// Records dropped so far for naming no pod of this Service.
    rejected: u64,
    /// The names already warned about, so a lying server is logged once per name.
    warned: HashSet<String>,
}

/// What the first, inline resolution of an eagerly started watch found.
#[derive(Debug)]
pub(crate) struct FirstAnswer {
    pub(crate) peers: PeerSet,
    pub(crate) next: Duration,
}

impl Refresher {
    pub(crate) fn new(
        dns: DnsClient,
        service: HeadlessService,
        config: &Config,
        peers: watch::Sender<PeerSet>,
        health: watch::Sender<Health>,
        refresh: Arc<Notify>,
    ) -> Self {
        Self {
            dns,
            service,
            schedule: Schedule::new(config),
            empty_grace: config.empty_grace,
            refresh_debounce: config.refresh_debounce,
            concurrency: config.max_concurrent_lookups,
            peers,
            health,
            refresh,
            empty_since: None,
            last_success: None,
            rejected: 0,
            warned: HashSet::new(),
        }
    }

    /// Resolves once for an eager start; errors go straight back to the caller.
    pub(crate) async fn first(&mut self) -> Result<FirstAnswer> {
        let (peers, ttl) = match resolve(&self.dns, &self.service, self.concurrency).await? {
            Resolution::Peers {
                peers,
                ttl,
                rejected,
            } => {
                self.note_rejected(&rejected);
                (peers, ttl)
            }
            Resolution::NoReadyPods { ttl } => (PeerSet::empty(), ttl_or_default(ttl)),
        };
        self.mark_healthy();
        self.peers.send_replace(peers.clone());
        let next = self.schedule.after_answer(ttl);
        Ok(FirstAnswer { peers, next })
    }

    /// The loop. It never returns: the handle aborts it when the last clone is dropped.
    pub(crate) async fn run(mut self, first_delay: Duration) {
        let mut next = first_delay;
        let mut last_resolution = tokio::time::Instant::now();
        loop {
            let due = tokio::time::Instant::now() + next;
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = self.refresh.notified() => {
                    // Debounce: several failing connections ask at once; one early
                    // resolution, no sooner than `refresh_debounce` after the last, serves all.
                    let earliest = last_resolution + self.refresh_debounce;
                    tokio::time::sleep_until(earliest.min(due)).await;
                    debug!(service = %self.service, "early refresh requested");
                }
            }
            last_resolution = tokio::time::Instant::now();
            next = self.refresh_once().await;
        }
    }

    /// Resolves, publishes what changed, and says when to resolve next.
    async fn refresh_once(&mut self) -> Duration {
        let started = Instant::now();
        let result = resolve(&self.dns, &self.service, self.concurrency).await;
        let elapsed = started.elapsed();
        match result {
            Ok(Resolution::Peers {
                peers,
                ttl,
                rejected,
            }) => {
                debug!(service = %self.service, ?elapsed, peers = peers.len(), ?ttl, outcome = "answer", "refreshed");
                self.note_rejected(&rejected);
                self.mark_healthy();
                self.empty_since = None;
                self.publish(peers);
                self.schedule.after_answer(ttl)
            }
            Ok(Resolution::NoReadyPods { ttl }) => {
                debug!(service = %self.service, ?elapsed, ?ttl, outcome = "nxdomain", "refreshed");
                self.mark_healthy();
                let next = self.schedule.after_answer(ttl_or_default(ttl));
                self.no_ready_pods(next)
            }
            Err(error) => {
                debug!(service = %self.service, ?elapsed, %error, outcome = "failure", "refreshed");
                self.mark_degraded(error);
                self.schedule.after_failure()
            }
        }
    }

    /// NXDOMAIN: publish the empty set only once it has lasted `empty_grace`, so that a
    /// one-replica rollout (old pod gone, new one not ready yet) does not flap.
    fn no_ready_pods(&mut self, next: Duration) -> Duration {
        if self.peers.borrow().is_empty() {
            self.empty_since = None;
            return next;
        }
        let now = Instant::now();
        let since = *self.empty_since.get_or_insert(now);
        let waited = now.duration_since(since);
        if waited >= self.empty_grace {
            info!(service = %self.service, grace = ?self.empty_grace, "no ready pod (NXDOMAIN) for the whole grace period; publishing an empty set");
            self.empty_since = None;
            self.publish(PeerSet::empty());
            return next;
        }
        debug!(service = %self.service, ?waited, "NXDOMAIN inside the grace period; keeping the peers");
        next.min(self.empty_grace - waited)
    }

    fn publish(&mut self, peers: PeerSet) {
        let service = &self.service;
        self.peers.send_if_modified(|current| {
            let events = current.diff(&peers);
            if events.is_empty() {
                return false;
            }
            for event in &events {
                let peer = event.peer();
                info!(%service, change = event.kind(), peer = peer.hostname(), ordinal = ?peer.ordinal(), addr = %peer.addr(), "peer changed");
            }
            *current = peers;
            true
        });
    }

    /// Counts the records an answer carried that named no pod of this Service, and warns
    /// once per name.
    fn note_rejected(&mut self, rejected: &[Rejected]) {
        self.rejected += rejected.len() as u64;
        for record in rejected {
            if self.warned.insert(record.name.clone()) {
                warn!(service = %self.service, name = %record.name, reason = %record.reason, "DNS answer names no pod of this Service; ignored");
            }
        }
    }

    fn mark_healthy(&mut self) {
        let now = Instant::now();
        self.last_success = Some(now);
        if let Health::Degraded {
            since, failures, ..
        } = &*self.health.borrow()
        {
            warn!(service = %self.service, after = ?since.elapsed(), failures, "DNS recovered");
        }
        self.set_health(Health::Healthy {
            last_success: now,
            rejected: self.rejected,
        });
    }

    fn mark_degraded(&mut self, error: Error) {
        let error = Arc::new(error);
        let failures = self.schedule.failures() + 1;
        let since = match &*self.health.borrow() {
            Health::Degraded { since, .. } => *since,
            _ => {
                warn!(service = %self.service, %error, peers = self.peers.borrow().len(), "DNS failing; keeping the last known peers");
                Instant::now()
            }
        };
        self.set_health(Health::Degraded {
            since,
            failures,
            error,
            last_success: self.last_success,
            rejected: self.rejected,
        });
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
