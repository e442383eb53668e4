//! [`Auto`]: the API source with DNS as its fallback. Both sources publish into
//! channels of their own; this task forwards the one in use to the watch, so a switch
//! is one diff (a pod keeps its key under both), never remove-all then add-all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Follower;
use crate::config::{Config, Source};
use crate::dns::DnsClient;
use crate::error::{ApiFailure, Error, Result};
use crate::name::HeadlessService;
use crate::peer::PeerSet;
use crate::watch::{Health, Publisher, Refresher, SourceInUse, SourceReason};

/// One source running on its own task, seen through its channels.
#[derive(Debug)]
struct Running {
    peers: watch::Receiver<PeerSet>,
    health: watch::Receiver<Health>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Everything needed to start the DNS fallback when it is needed.
#[derive(Debug)]
pub(crate) struct DnsFallback {
    pub(crate) dns: DnsClient,
    pub(crate) config: Config,
    pub(crate) refresh: Arc<Notify>,
}

impl DnsFallback {
    /// A refresher publishing into channels of its own.
    fn refresher(&self, service: &HeadlessService) -> (Refresher, Channels) {
        let (out, channels) = Channels::new(service, Source::Dns, &self.config);
        let refresher = Refresher::new(
            self.dns.clone(),
            out,
            &self.config,
            Arc::clone(&self.refresh),
        );
        (refresher, channels)
    }

    /// Resolves once, then keeps refreshing on a task of its own.
    async fn start(&self, service: &HeadlessService) -> Result<Running> {
        let (mut refresher, channels) = self.refresher(service);
        let first = refresher.first().await?;
        Ok(channels.running(tokio::spawn(refresher.run(first.next))))
    }

    /// Refreshes on a task of its own from now, without waiting for the first answer.
    fn start_lazy(&self, service: &HeadlessService) -> Running {
        let (refresher, channels) = self.refresher(service);
        channels.running(tokio::spawn(refresher.run(Duration::ZERO)))
    }
}

/// The receiving ends of an inner source.
struct Channels {
    peers: watch::Receiver<PeerSet>,
    health: watch::Receiver<Health>,
}

impl Channels {
    fn new(service: &HeadlessService, source: Source, config: &Config) -> (Publisher, Self) {
        let (peers_tx, peers) = watch::channel(PeerSet::empty());
        let (health_tx, health) = watch::channel(Health::Starting);
        let out = Publisher::new(
            service.clone(),
            source,
            peers_tx,
            health_tx,
            config.empty_grace,
        );
        (out, Self { peers, health })
    }

    fn running(self, task: JoinHandle<()>) -> Running {
        Running {
            peers: self.peers,
            health: self.health,
            task,
        }
    }
}

/// The forwarding task of one `Auto` watch.
#[derive(Debug)]
pub(crate) struct Auto {
    out: Publisher,
    choice: watch::Sender<SourceInUse>,
    api: Option<Running>,
    dns: Option<Running>,
    fallback: DnsFallback,
    fallback_after: Duration,
    dwell: Duration,
}

impl Auto {
    /// Starts on the API if it lists the slices within `api_fallback_after`, else on DNS
    /// (a stalled API server would otherwise hold the caller for `api_silence_timeout`);
    /// the first failure of both comes back (DNS's, since it is the last resort).
    pub(crate) async fn start(
        client: Result<kube::Client>,
        out: Publisher,
        choice: watch::Sender<SourceInUse>,
        fallback: DnsFallback,
    ) -> Result<Self> {
        let service = out.service.clone();
        let mut auto = Self::new(out, choice, fallback);
        let api_error = match client {
            Ok(client) => {
                let (follower_out, channels) =
                    Channels::new(&service, Source::Kube, &auto.fallback.config);
                let mut follower = Follower::new(client, follower_out, &auto.fallback.config);
                // Cancelling `first` keeps the watcher's stream as it is: the follower
                // resumes where the list stands.
                let first = tokio::time::timeout(auto.fallback_after, follower.first()).await;
                auto.api = Some(channels.running(tokio::spawn(follower.run())));
                match first {
                    Ok(first) => first.err(),
                    Err(_) => Some(Error::Api {
                        service: service.domain_name(),
                        failure: ApiFailure::Silent {
                            after: auto.fallback_after,
                        },
                    }),
                }
            }
            Err(error) => Some(error),
        };
        match api_error {
            None => auto.choose(Source::Kube, SourceReason::ApiAnswers),
            Some(error) => {
                auto.dns = Some(auto.fallback.start(&service).await?);
                auto.choose(Source::Dns, SourceReason::ApiFailing(Arc::new(error)));
            }
        }
        auto.forward();
        Ok(auto)
    }

    /// As [`start`](Self::start), for a lazily started watch: nothing is awaited, and
    /// failures show in health.
    pub(crate) fn start_lazy(
        client: Result<kube::Client>,
        out: Publisher,
        choice: watch::Sender<SourceInUse>,
        fallback: DnsFallback,
    ) -> Self {
        let service = out.service.clone();
        let mut auto = Self::new(out, choice, fallback);
        match client {
            Ok(client) => {
                let (follower_out, channels) =
                    Channels::new(&service, Source::Kube, &auto.fallback.config);
                let follower = Follower::new(client, follower_out, &auto.fallback.config);
                auto.api = Some(channels.running(tokio::spawn(follower.run())));
                auto.choose(Source::Kube, SourceReason::ApiAnswers);
            }
            Err(error) => {
                auto.dns = Some(auto.fallback.start_lazy(&service));
                auto.choose(Source::Dns, SourceReason::ApiFailing(Arc::new(error)));
            }
        }
        auto
    }

    fn new(out: Publisher, choice: watch::Sender<SourceInUse>, fallback: DnsFallback) -> Self {
        Self {
            out,
            choice,
            api: None,
            dns: None,
            fallback_after: fallback.config.api_fallback_after,
            dwell: fallback.config.source_dwell,
            fallback,
        }
    }

    /// The loop. It never returns: the handle aborts it (and with it both sources).
    pub(crate) async fn run(mut self) {
        loop {
            let wake = self.next_decision();
            let api = self.api.as_mut();
            let dns = self.dns.as_mut();
            tokio::select! {
                changed = changed(api.map(|a| (&mut a.peers, &mut a.health))) => if changed.is_err() { self.api = None },
                changed = changed(dns.map(|d| (&mut d.peers, &mut d.health))) => if changed.is_err() { self.dns = None },
                () = sleep_until(wake) => {}
            }
            self.decide().await;
            self.forward();
        }
    }

    fn using(&self) -> Source {
        self.choice.borrow().source
    }

    /// Switches if the rules say so.
    async fn decide(&mut self) {
        let dwelt = self.choice.borrow().since.elapsed() >= self.dwell;
        let api_health = self.api.as_ref().map(|a| a.health.borrow().clone());
        match (self.using(), api_health) {
            (Source::Kube, Some(Health::Degraded { since, error, .. }))
                if dwelt && since.elapsed() >= self.fallback_after =>
            {
                warn!(service = %self.out.service, %error, after = ?since.elapsed(), "the Kubernetes API keeps failing; falling back to DNS");
                let service = self.out.service.clone();
                self.dns = Some(match self.fallback.start(&service).await {
                    Ok(running) => running,
                    // DNS fails too: keep refreshing it, the API's last peers stay meanwhile.
                    Err(_) => self.fallback.start_lazy(&service),
                });
                self.choose(Source::Dns, SourceReason::ApiFailing(error));
            }
            (Source::Dns, Some(Health::Healthy { .. })) if dwelt => {
                info!(service = %self.out.service, "the Kubernetes API answers again; back from DNS");
                self.dns = None;
                self.choose(Source::Kube, SourceReason::ApiAnswers);
            }
            _ => {}
        }
    }

    /// Publishes what the source in use says.
    fn forward(&mut self) {
        let running = match self.using() {
            Source::Dns => self.dns.as_ref(),
            _ => self.api.as_ref(),
        };
        let Some(running) = running else { return };
        let health = running.health.borrow().clone();
        if matches!(health, Health::Starting) {
            return;
        }
        let peers = running.peers.borrow().clone();
        self.out.publish(peers);
        self.out.forward_health(health);
    }

    fn choose(&mut self, source: Source, reason: SourceReason) {
        info!(service = %self.out.service, %source, "source chosen");
        self.choice.send_replace(SourceInUse::new(source, reason));
    }

    /// When the rules could next ask for a switch, if any could.
    fn next_decision(&self) -> Option<tokio::time::Instant> {
        let since = self.choice.borrow().since;
        let dwell_ends = since + self.dwell;
        let api = self.api.as_ref()?;
        let at = match (self.using(), &*api.health.borrow()) {
            (Source::Kube, Health::Degraded { since, .. }) => {
                dwell_ends.max(*since + self.fallback_after)
            }
            (Source::Dns, Health::Healthy { .. }) => dwell_ends,
            _ => return None,
        };
        Some(tokio::time::Instant::from_std(at.max(Instant::now())))
    }
}

/// Waits for a change on either channel; never, without a source.
async fn changed(
    source: Option<(&mut watch::Receiver<PeerSet>, &mut watch::Receiver<Health>)>,
) -> std::result::Result<(), watch::error::RecvError> {
    match source {
        Some((peers, health)) => tokio::select! {
            changed = peers.changed() => changed,
            changed = health.changed() => changed,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
