//! The background task of one watch: resolve, publish, sleep, repeat.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::{debug, warn};

use super::publish::Publisher;
use super::schedule::Schedule;
use crate::config::Config;
use crate::dns::DnsClient;
use crate::error::Result;
use crate::peer::PeerSet;
use crate::resolve::{Rejected, Resolution, resolve, ttl_or_default};

/// Everything the refresh loop owns. Handles talk to it through the two `watch` channels
/// it publishes on and the `Notify` that asks for an early refresh.
#[derive(Debug)]
pub(crate) struct Refresher {
    dns: DnsClient,
    out: Publisher,
    schedule: Schedule,
    refresh_debounce: Duration,
    concurrency: usize,
    refresh: Arc<Notify>,
    /// The names already warned about, so a lying server is logged once per name.
    warned: HashSet<String>,
}

/// What the first, inline resolution of an eagerly started watch found: when to
/// resolve next (the peers are published).
#[derive(Debug)]
pub(crate) struct FirstAnswer {
    pub(crate) next: Duration,
}

impl Refresher {
    pub(crate) fn new(
        dns: DnsClient,
        out: Publisher,
        config: &Config,
        refresh: Arc<Notify>,
    ) -> Self {
        Self {
            dns,
            out,
            schedule: Schedule::new(config),
            refresh_debounce: config.refresh_debounce,
            concurrency: config.max_concurrent_lookups,
            refresh,
            warned: HashSet::new(),
        }
    }

    /// Resolves once for an eager start; errors go straight back to the caller.
    pub(crate) async fn first(&mut self) -> Result<FirstAnswer> {
        let (peers, ttl) = match resolve(&self.dns, &self.out.service, self.concurrency).await? {
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
        self.out.mark_healthy();
        self.out.publish(peers);
        let next = self.schedule.after_answer(ttl);
        Ok(FirstAnswer { next })
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
                    debug!(service = %self.out.service, "early refresh requested");
                }
            }
            last_resolution = tokio::time::Instant::now();
            next = self.refresh_once().await;
        }
    }

    /// Resolves, publishes what changed, and says when to resolve next.
    async fn refresh_once(&mut self) -> Duration {
        let started = Instant::now();
        let result = resolve(&self.dns, &self.out.service, self.concurrency).await;
        let elapsed = started.elapsed();
        let service = &self.out.service;
        match result {
            Ok(Resolution::Peers {
                peers,
                ttl,
                rejected,
            }) => {
                debug!(%service, ?elapsed, peers = peers.len(), ?ttl, outcome = "answer", "refreshed");
                self.note_rejected(&rejected);
                self.out.mark_healthy();
                self.out.publish(peers);
                self.schedule.after_answer(ttl)
            }
            Ok(Resolution::NoReadyPods { ttl }) => {
                debug!(%service, ?elapsed, ?ttl, outcome = "nxdomain", "refreshed");
                self.out.mark_healthy();
                let next = self.schedule.after_answer(ttl_or_default(ttl));
                match self.out.no_ready_pods() {
                    Some(grace_left) => next.min(grace_left),
                    None => next,
                }
            }
            Err(error) => {
                debug!(%service, ?elapsed, %error, outcome = "failure", "refreshed");
                self.out.mark_degraded(error, self.schedule.failures() + 1);
                self.schedule.after_failure()
            }
        }
    }

    /// Counts the records an answer carried that named no pod of this Service, and warns
    /// once per name.
    fn note_rejected(&mut self, rejected: &[Rejected]) {
        self.out.add_rejected(rejected.len());
        for record in rejected {
            if self.warned.insert(record.name.clone()) {
                warn!(service = %self.out.service, name = %record.name, reason = %record.reason, "DNS answer names no pod of this Service; ignored");
            }
        }
    }
}
