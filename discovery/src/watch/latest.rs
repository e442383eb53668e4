//! [`Latest`]: a `tokio::sync::watch` receiver as a stream that never misses a published
//! value and costs little to poll.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

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
///   the channel's waiter list (a lock shared by every receiver), as long as that
///   registration is still live: it was made with budget left (a spent budget registers
///   nothing), and no notification has used it up since. A notification can arrive for a
///   value this stream already took through the synchronous check; it still consumes
///   the registration, so the next poll registers again.
///
/// A value may be yielded twice; consumers that diff snapshots see no change the second time.
pub(crate) struct Latest<T> {
    latest: watch::Receiver<T>,
    changes: WatchStream<T>,
    registered: Option<Arc<Registration>>,
}

/// The waker handed to the channel: the task's own, plus whether it has been used.
#[derive(Debug)]
struct Registration {
    task: Waker,
    woken: AtomicBool,
}

impl Registration {
    /// Whether a poll with `waker` may trust this registration to wake it.
    fn is_live_for(&self, waker: &Waker) -> bool {
        !self.woken.load(Ordering::Acquire) && self.task.will_wake(waker)
    }
}

impl Wake for Registration {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl<T> std::fmt::Debug for Latest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latest").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + Sync + 'static> Latest<T> {
    /// Follows `receiver` from its current value on: only later values are yielded.
    pub(crate) fn new(mut receiver: watch::Receiver<T>) -> Self {
        receiver.borrow_and_update();
        Self {
            changes: WatchStream::from_changes(receiver.clone()),
            latest: receiver,
            registered: None,
        }
    }

    /// The newest value, without waiting.
    pub(crate) fn borrow(&self) -> watch::Ref<'_, T> {
        self.latest.borrow()
    }
}

impl<T: Clone + Send + Sync + 'static> Stream for Latest<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.latest.has_changed().unwrap_or(false) {
            let value = self.latest.borrow_and_update().clone();
            return Poll::Ready(Some(value));
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|r| r.is_live_for(cx.waker()))
        {
            return Poll::Pending;
        }
        // With the budget spent, `changed()` answers Pending and asks to be polled again
        // without joining the waiter list: only a Pending with budget left registered.
        let had_budget = tokio::task::coop::has_budget_remaining();
        let registration = Arc::new(Registration {
            task: cx.waker().clone(),
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(Arc::clone(&registration));
        let mut registered_cx = Context::from_waker(&waker);
        match Pin::new(&mut self.changes).poll_next(&mut registered_cx) {
            Poll::Ready(value) => {
                self.registered = None;
                Poll::Ready(value)
            }
            Poll::Pending => {
                self.registered = had_budget.then_some(registration);
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

    /// Values sent back to back while the consumer is still running from the last wake:
    /// the consumer must see every burst's last value, woken by the channel alone.
    ///
    /// The old short cut ("same waker as the last `Pending`: still registered") failed
    /// here: the second send's notification could use up the registration after its
    /// value had been taken through `has_changed`, and every later `Pending` trusted a
    /// registration that no longer existed (hundreds of stalls in 3 000 bursts).
    #[test]
    fn back_to_back_values_never_leave_the_consumer_asleep() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::time::Instant;

        const BURSTS: u64 = 3_000;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("runtime");
        let (tx, rx) = watch::channel(0u64);
        let seen = Arc::new(AtomicU64::new(0));
        let consumer = {
            let seen = Arc::clone(&seen);
            let mut latest = Latest::new(rx);
            runtime.spawn(async move {
                while let Some(value) = latest.next().await {
                    seen.store(value, Ordering::Release);
                }
            })
        };
        let mut stalls = 0;
        let started = Instant::now();
        for burst in 0..BURSTS {
            let last = burst * 2 + 2;
            tx.send_replace(last - 1);
            tx.send_replace(last);
            let deadline = Instant::now() + Duration::from_secs(1);
            while seen.load(Ordering::Acquire) < last && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            if seen.load(Ordering::Acquire) < last {
                // Asleep: the consumer would wait for ever (or for its caller's timeout).
                stalls += 1;
                if stalls == 3 || started.elapsed() > Duration::from_secs(30) {
                    break;
                }
            }
        }
        drop(tx);
        let ended = runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), consumer).await });
        assert_eq!(stalls, 0, "the consumer slept through a value");
        assert!(
            matches!(ended, Ok(Ok(()))),
            "the consumer saw the channel close"
        );
        assert_eq!(seen.load(Ordering::Acquire), BURSTS * 2);
    }
}
