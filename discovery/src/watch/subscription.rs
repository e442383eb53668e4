//! [`Subscription`]: a snapshot plus the stream of per-peer changes after it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::watch;

use super::{Health, Latest, Watch};
use crate::peer::{PeerEvent, PeerSet};

/// What a subscriber sees: the snapshot it started from, then [`PeerEvent`]s.
///
/// Events are derived by diffing snapshots when the subscriber polls, so a slow
/// subscriber never blocks discovery nor makes others wait (no bounded queue to fill,
/// the tonic #1581 trap); it sees the net change since it last looked. The stream ends
/// only when the watch does.
#[derive(Debug)]
pub struct Subscription {
    watch: Watch,
    current: PeerSet,
    changes: Latest<PeerSet>,
    pending: VecDeque<PeerEvent>,
}

impl Subscription {
    pub(super) fn new(watch: Watch, mut peers: watch::Receiver<PeerSet>) -> Self {
        let current = peers.borrow_and_update().clone();
        Self {
            watch,
            current,
            changes: Latest::new(peers),
            pending: VecDeque::new(),
        }
    }

    /// The set as of the last event this subscription returned.
    pub fn snapshot(&self) -> &PeerSet {
        &self.current
    }

    /// The watch's current health.
    pub fn health(&self) -> Health {
        self.watch.health()
    }

    /// The watch this subscription follows.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// The next event; `None` only if the watch has ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is only taken out when it is returned.
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        futures::StreamExt::next(self).await
    }
}

impl Subscription {
    fn absorb(&mut self, next: PeerSet) {
        let events = self.current.diff(&next);
        self.current = next;
        self.pending.extend(events);
    }
}

impl Stream for Subscription {
    type Item = PeerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PeerEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(Some(event));
            }
            // `Latest` returns a snapshot already out on this very poll: a balancer polls
            // discovery right before it picks an endpoint, and must not pick one that was
            // removed a moment ago.
            match Pin::new(&mut self.changes).poll_next(cx) {
                // May repeat a snapshot: diffing it again yields nothing.
                Poll::Ready(Some(next)) => self.absorb(next),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
