//! [`Latest`]: a `tokio::sync::watch` receiver as a stream that never misses a published
//! value and costs little to poll.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::Stream;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

/// Yields the newest value each time the channel changes.
///
/// Built for consumers that are polled right before they act, like a balancer's discovery
/// stream, and polled often, from many tasks:
///
/// - A value already sent is returned on the very next poll. The async `changed()` can
///   answer `Pending` when the task has spent tokio's cooperative budget, new value or not;
///   this checks the version synchronously first.
/// - A poll from the same task as the last `Pending` returns `Pending` without touching
///   the channel's waiter list (a lock shared by every receiver), since its waker is
///   already registered.
///
/// A value may be yielded twice; consumers that diff snapshots see no change the second time.
pub struct Latest<T> {
    latest: watch::Receiver<T>,
    changes: WatchStream<T>,
    registered: Option<Waker>,
}

impl<T> std::fmt::Debug for Latest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latest").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + Sync + 'static> Latest<T> {
    /// Follows `receiver` from its current value on: only later values are yielded.
    pub fn new(mut receiver: watch::Receiver<T>) -> Self {
        receiver.borrow_and_update();
        Self {
            changes: WatchStream::from_changes(receiver.clone()),
            latest: receiver,
            registered: None,
        }
    }

    /// The newest value, without waiting.
    pub fn borrow(&self) -> watch::Ref<'_, T> {
        self.latest.borrow()
    }
}

impl<T: Clone + Send + Sync + 'static> Stream for Latest<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.latest.has_changed().unwrap_or(false) {
            self.registered = None;
            let value = self.latest.borrow_and_update().clone();
            return Poll::Ready(Some(value));
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        match Pin::new(&mut self.changes).poll_next(cx) {
            Poll::Ready(value) => {
                self.registered = None;
                Poll::Ready(value)
            }
            Poll::Pending => {
                self.registered = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
