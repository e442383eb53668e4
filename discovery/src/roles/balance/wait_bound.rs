//! [`WaitBound`]: the timer that bounds a balancer's wait for a ready endpoint.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The timer behind [`WaitForPeers`](crate::balance::WaitForPeers), for a balancer that bounds its own wait instead of
/// taking the wrapper's response future: started by the first `Pending`, reset by the
/// next `Ready`.
#[derive(Debug)]
pub struct WaitBound {
    bound: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WaitBound {
    /// Waits of at most `bound`.
    pub fn new(bound: Duration) -> Self {
        Self { bound, timer: None }
    }

    /// The bound.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// The service became ready: the next wait starts afresh.
    pub fn reset(&mut self) {
        self.timer = None;
    }

    /// The service is not ready: `Pending` (with a wake-up at the bound) while the wait
    /// lasts less than the bound, `Ready` once it has run out, which also resets it.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let bound = self.bound;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
        futures::ready!(timer.as_mut().poll(cx));
        self.timer = None;
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_runs_out_at_the_bound_and_a_ready_service_starts_the_next_afresh() {
        let mut wait = WaitBound::new(Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        assert!(futures::poll!(poll_fn(|cx| wait.poll_expired(cx))).is_pending());
        tokio::time::advance(Duration::from_secs(1)).await;
        wait.reset();
        // The first second no longer counts: two more to go.
        poll_fn(|cx| wait.poll_expired(cx)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        // Run out, it starts afresh too.
        assert!(futures::poll!(poll_fn(|cx| wait.poll_expired(cx))).is_pending());
    }
}
