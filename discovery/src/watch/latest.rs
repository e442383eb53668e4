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
///   already registered; unless that `Pending` came from an exhausted budget, which
///   registers nothing.
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
        // With the budget spent, `changed()` answers Pending and asks to be polled again
        // without joining the waiter list: only a Pending with budget left registered.
        let had_budget = tokio::task::coop::has_budget_remaining();
        match Pin::new(&mut self.changes).poll_next(cx) {
            Poll::Ready(value) => {
                self.registered = None;
                Poll::Ready(value)
            }
            Poll::Pending => {
                self.registered = had_budget.then(|| cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::time::Duration;

    use futures::StreamExt;
    use tokio::sync::oneshot;

    use super::*;

    /// Spends the current task's cooperative budget.
    fn spend_budget(cx: &mut Context<'_>) {
        while tokio::task::coop::has_budget_remaining() {
            if let Poll::Ready(progress) = tokio::task::coop::poll_proceed(cx) {
                progress.made_progress();
            }
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_pending_from_a_spent_budget_still_registers_for_the_next_value() {
        let (tx, rx) = watch::channel(0);
        let mut latest = Latest::new(rx);
        let (parking, parked) = oneshot::channel();
        let task = tokio::spawn(async move {
            poll_fn(|cx| {
                spend_budget(cx);
                assert!(Pin::new(&mut latest).poll_next(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            let _ = parking.send(());
            latest.next().await
        });
        parked.await.expect("the task ran");
        // Let it park in `next()` (one thread: it runs while this task yields).
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        tx.send_replace(1);
        let value = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("woken by the new value, not left waiting")
            .expect("task");
        assert_eq!(value, Some(1));
    }
}
