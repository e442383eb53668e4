//! [`Watch`]: the cheap-to-clone handle on one Service's refresh task.

use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{Health, SourceInUse, Subscription};
use crate::error::{Error, Result};
use crate::name::HeadlessService;
use crate::peer::PeerSet;

/// A live view of one headless Service's ready pods.
///
/// ## Behavior
///
/// - One background task per watched Service resolves it, paced by the answer's TTL
///   (clamped to `[min_refresh, max_refresh]`, ±`jitter`). Every clone of the handle, and
///   every [`Subscription`], shares that one task: N subscribers cause one query stream.
/// - DNS failures (SERVFAIL, REFUSED, timeouts, I/O errors) keep the last known good peers;
///   the task backs off exponentially with jitter and reports [`Health::Degraded`].
/// - NXDOMAIN for the Service means no ready pod: the set empties once that has lasted
///   `empty_grace`.
/// - [`refresh_now`](Self::refresh_now) asks for an early, debounced resolution, for
///   adapters that just saw a connection fail.
/// - The task ends when the last handle and the last subscription are dropped.
#[derive(Clone, Debug)]
pub struct Watch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    service: HeadlessService,
    peers: watch::Receiver<PeerSet>,
    health: watch::Receiver<Health>,
    source: watch::Receiver<SourceInUse>,
    refresh: Arc<Notify>,
    task: AbortOnDrop,
}

/// Aborts the refresh task when the last handle goes (redis-rs `HandleContainer` does the same).
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Watch {
    pub(crate) fn new(
        service: HeadlessService,
        peers: watch::Receiver<PeerSet>,
        health: watch::Receiver<Health>,
        source: watch::Receiver<SourceInUse>,
        refresh: Arc<Notify>,
        task: JoinHandle<()>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                service,
                peers,
                health,
                source,
                refresh,
                task: AbortOnDrop(task),
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// The Service being watched.
    pub fn service(&self) -> &HeadlessService {
        &self.inner.service
    }

    /// The current peers (cheap: shares the snapshot).
    pub fn peers(&self) -> PeerSet {
        self.inner.peers.borrow().clone()
    }

    /// The current health.
    pub fn health(&self) -> Health {
        self.inner.health.borrow().clone()
    }

    /// Which source the peers come from now, and why: the configured one, or for
    /// [`Source::Auto`](crate::Source::Auto) the one it chose.
    pub fn source(&self) -> SourceInUse {
        self.inner.source.borrow().clone()
    }

    /// A receiver that wakes whenever [`Source::Auto`](crate::Source::Auto) switches.
    pub fn source_changes(&self) -> watch::Receiver<SourceInUse> {
        self.inner.source.clone()
    }

    /// A receiver that wakes on every health change (degraded, recovered).
    pub fn health_changes(&self) -> watch::Receiver<Health> {
        self.inner.health.clone()
    }

    /// A receiver of whole snapshots, woken on every change. Use
    /// [`subscribe`](Self::subscribe) for per-peer events instead.
    pub fn peer_changes(&self) -> watch::Receiver<PeerSet> {
        self.inner.peers.clone()
    }

    /// The current snapshot plus a stream of [`PeerEvent`](crate::PeerEvent)s from here on.
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(self.clone(), self.inner.peers.clone())
    }

    /// Asks for a resolution soon, without waiting for the TTL. Calls close together are
    /// merged, and no resolution starts sooner than `refresh_debounce` after the previous
    /// one, so it is safe to call on every failed connection.
    pub fn refresh_now(&self) {
        self.inner.refresh.notify_one();
    }

    /// Waits for the first resolution of a lazily started watch and returns its peers
    /// (at once for an eagerly started one).
    ///
    /// # Errors
    ///
    /// The first resolution's error, if it failed; the watch keeps retrying regardless.
    pub async fn ready(&self) -> Result<PeerSet> {
        let mut health = self.inner.health.clone();
        let outcome = health
            .wait_for(|h| !matches!(h, Health::Starting))
            .await
            .map(|h| h.clone());
        match outcome {
            Ok(Health::Degraded { error, .. }) if self.inner.peers.borrow().is_empty() => {
                Err((*error).clone())
            }
            Ok(_) => Ok(self.peers()),
            Err(_closed) => Err(Error::NotYetResolved {
                service: self.inner.service.domain_name(),
            }),
        }
    }

    /// Whether the background task has stopped (it only does if it panicked).
    pub fn is_finished(&self) -> bool {
        self.inner.task.0.is_finished()
    }
}
