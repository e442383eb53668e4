//! [`PeerDiscover`]: a watch as a tower `Discover` stream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tower::Service;
use tower::discover::Change;

use crate::peer::{Peer, PeerEvent, PeerKey};
use crate::watch::{Subscription, Watch};

/// How long to wait before making a peer's service again after the MakeService failed.
const REMAKE_DELAY: Duration = Duration::from_secs(1);

/// A tower [`Discover`](tower::discover::Discover) of one service per ready pod, keyed by
/// [`PeerKey`] (the pod's FQDN).
///
/// ## Behavior
///
/// - It starts with an `Insert` for every peer of the watch's snapshot, then follows the
///   watch: `Insert` for an added pod, `Remove` for a removed one, and for a pod that
///   came back at a new address (same name, same ordinal) a `Remove` of the old service
///   followed by an `Insert` of one made for the new address.
/// - A [draining](Peer::is_draining) pod (terminating, still serving: API source only)
///   is removed at once, so the balancer picks it for no new request, while the
///   requests already sent to it finish. It is inserted again if it stops draining.
/// - Its error type is [`Infallible`]: DNS trouble never reaches the balancer (tower's
///   `Balance` fails for good on a discover error). The watch keeps the last good peers
///   and reports the trouble through [`Watch::health`].
/// - A MakeService that fails for a peer is logged, triggers [`Watch::refresh_now`], and
///   is retried for that peer after a second; nothing is inserted meanwhile.
/// - The stream never ends while it lives: it holds a [`Subscription`], which keeps the
///   watch alive.
///
/// # Examples
///
/// See the [module docs](super).
pub struct PeerDiscover<M>
where
    M: Service<Peer>,
{
    watch: Watch,
    events: Subscription,
    make: M,
    /// Peers waiting for the MakeService to be ready, with the generation they were asked in.
    to_make: VecDeque<(Peer, u64)>,
    making: FuturesUnordered<Making<M::Future>>,
    /// The latest generation wanted per live peer; a finished make of another is stale.
    wanted: HashMap<PeerKey, u64>,
    inserted: HashSet<PeerKey>,
    ready: VecDeque<Change<PeerKey, M::Response>>,
    retry: Option<Retry>,
    generation: u64,
}

impl<M: Service<Peer>> fmt::Debug for PeerDiscover<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerDiscover")
            .field("service", self.watch.service())
            .field("inserted", &self.inserted.len())
            .field("making", &self.making.len())
            .finish_non_exhaustive()
    }
}

impl<M> PeerDiscover<M>
where
    M: Service<Peer>,
{
    /// Follows `watch`, making each peer's service with `make` (a tower MakeService:
    /// `Service<Peer, Response = S>`).
    pub fn new(watch: &Watch, make: M) -> Self {
        let events = watch.subscribe();
        let mut this = Self {
            watch: watch.clone(),
            make,
            to_make: VecDeque::new(),
            making: FuturesUnordered::new(),
            wanted: HashMap::new(),
            inserted: HashSet::new(),
            ready: VecDeque::new(),
            retry: None,
            generation: 0,
            events,
        };
        let initial: Vec<Peer> = this
            .events
            .snapshot()
            .iter()
            .filter(|p| !p.is_draining())
            .cloned()
            .collect();
        for peer in initial {
            this.want(peer);
        }
        this
    }

    /// The watch this stream follows.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    fn want(&mut self, peer: Peer) {
        self.generation += 1;
        self.wanted.insert(peer.key(), self.generation);
        self.to_make.push_back((peer, self.generation));
    }

    fn remove(&mut self, key: &PeerKey) {
        if self.inserted.remove(key) {
            tracing::debug!(peer = %key, "discover: remove");
            self.ready.push_back(Change::Remove(key.clone()));
        }
    }

    fn apply(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Added(peer) if !peer.is_draining() => self.want(peer),
            PeerEvent::Added(_) => {}
            PeerEvent::Removed(peer) => self.forget(&peer.key()),
            // Draining: the balancer drops its service, so no new request picks it; the
            // requests already sent hold their own futures and finish.
            PeerEvent::Changed { new, .. } if new.is_draining() => self.forget(&new.key()),
            PeerEvent::Changed { old, new } => {
                if old.addr() == new.addr() && self.wanted.contains_key(&new.key()) {
                    // Same address, only zone or node news: the service stays.
                    return;
                }
                // The old address is gone: stop sending to it before the new service exists.
                self.remove(&new.key());
                self.want(new);
            }
        }
    }

    fn forget(&mut self, key: &PeerKey) {
        self.wanted.remove(key);
        self.remove(key);
    }

    fn is_current(&self, key: &PeerKey, generation: u64) -> bool {
        self.wanted.get(key) == Some(&generation)
    }
}

impl<F, S> PeerDiscover<MakeFn<F>>
where
    F: FnMut(&Peer) -> S,
{
    /// Follows `watch`, making each peer's service with a plain closure, for services that
    /// connect lazily (most tower clients do).
    pub fn from_fn(watch: &Watch, make: F) -> Self {
        Self::new(watch, MakeFn(make))
    }
}

// No field is ever pinned structurally (futures in flight live in `FuturesUnordered`,
// which pins them itself), so the stream can move freely, as `Balance` requires.
impl<M: Service<Peer>> Unpin for PeerDiscover<M> {}

impl<M> Stream for PeerDiscover<M>
where
    M: Service<Peer>,
    M::Error: fmt::Display,
{
    type Item = Result<Change<PeerKey, M::Response>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.take_events(cx).is_break() && this.ready.is_empty() {
                return Poll::Ready(None);
            }
            this.start_making(cx);
            this.collect_made(cx);
            if let Some(change) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            // Polled last, so that a retry queued above registers its timer.
            if !this.retry_due(cx) {
                return Poll::Pending;
            }
        }
    }
}

impl<M> PeerDiscover<M>
where
    M: Service<Peer>,
    M::Error: fmt::Display,
{
    /// Applies what the watch says, without blocking on it. `Break` when the watch ended.
    fn take_events(&mut self, cx: &mut Context<'_>) -> ControlFlow<()> {
        loop {
            match self.events.poll_next_unpin(cx) {
                Poll::Ready(Some(event)) => self.apply(event),
                Poll::Ready(None) => return ControlFlow::Break(()),
                Poll::Pending => return ControlFlow::Continue(()),
            }
        }
    }

    /// Starts making services for wanted peers while the MakeService is ready.
    fn start_making(&mut self, cx: &mut Context<'_>) {
        while let Some((peer, generation)) = self.to_make.pop_front() {
            if !self.is_current(&peer.key(), generation) {
                continue;
            }
            match self.make.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    let future = self.make.call(peer.clone());
                    self.making.push(Making {
                        peer: Some(peer),
                        generation,
                        future,
                    });
                }
                Poll::Ready(Err(error)) => {
                    tracing::warn!(peer = %peer, %error, "make service not ready; will retry");
                    self.retry_later(peer, generation);
                }
                Poll::Pending => {
                    self.to_make.push_front((peer, generation));
                    return;
                }
            }
        }
    }

    /// Collects finished services; stale ones (the peer moved or left meanwhile) are dropped.
    fn collect_made(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some((peer, generation, result))) = self.making.poll_next_unpin(cx) {
            let key = peer.key();
            if !self.is_current(&key, generation) {
                continue;
            }
            match result {
                Ok(service) => {
                    tracing::debug!(peer = %key, "discover: insert");
                    self.inserted.insert(key.clone());
                    self.ready.push_back(Change::Insert(key, service));
                }
                Err(error) => {
                    tracing::warn!(peer = %peer, %error, "making a service for the peer failed; asking DNS again and retrying");
                    self.watch.refresh_now();
                    self.retry_later(peer, generation);
                }
            }
        }
    }

    /// Requeues failed peers once their delay has passed; `true` if it did.
    fn retry_due(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((sleep, _)) = &mut self.retry else {
            return false;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return false;
        }
        let peers = self
            .retry
            .take()
            .map(|(_, peers)| peers)
            .unwrap_or_default();
        for (peer, generation) in peers {
            if self.is_current(&peer.key(), generation) {
                self.to_make.push_back((peer, generation));
            }
        }
        true
    }
}

impl<M: Service<Peer>> PeerDiscover<M> {
    fn retry_later(&mut self, peer: Peer, generation: u64) {
        match &mut self.retry {
            Some((_, peers)) => peers.push((peer, generation)),
            None => {
                self.retry = Some((
                    Box::pin(tokio::time::sleep(REMAKE_DELAY)),
                    vec![(peer, generation)],
                ));
            }
        }
    }
}

/// Peers whose service failed to be made, and when to try them again.
type Retry = (Pin<Box<tokio::time::Sleep>>, Vec<(Peer, u64)>);

pin_project_lite::pin_project! {
    /// One service being made, tagged with its peer and generation.
    struct Making<F> {
        peer: Option<Peer>,
        generation: u64,
        #[pin]
        future: F,
    }
}

impl<F, S, E> Future for Making<F>
where
    F: Future<Output = Result<S, E>>,
{
    type Output = (Peer, u64, Result<S, E>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = futures::ready!(this.future.poll(cx));
        match this.peer.take() {
            Some(peer) => Poll::Ready((peer, *this.generation, result)),
            // Polled again after completion: FuturesUnordered never does this.
            None => Poll::Pending,
        }
    }
}

/// A MakeService from a closure `FnMut(&Peer) -> S`; made by [`PeerDiscover::from_fn`].
#[derive(Clone)]
pub struct MakeFn<F>(F);

impl<F> fmt::Debug for MakeFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MakeFn")
    }
}

impl<F, S> Service<Peer> for MakeFn<F>
where
    F: FnMut(&Peer) -> S,
{
    type Response = S;
    type Error = Infallible;
    type Future = Ready<Result<S, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: Peer) -> Self::Future {
        ready(Ok((self.0)(&peer)))
    }
}
