//! Sending again what was never applied: [`Resend`], the wait for a new leader within
//! `failover_wait` that an adapter runs inside one request, and [`ResendPolicy`], the
//! same rule as a tower retry policy for whole requests.
//!
//! # Examples
//!
//! An adapter's write loop: attempt, and on an outcome known not applied, wait for the
//! leader a fresh probe round names, then attempt there.
//!
//! ```
//! use headless_discovery::Peer;
//! use headless_discovery::roles::{Report, RoleError, RoleWatch, Verdict};
//!
//! enum Attempt {
//!     Done(String),
//!     /// Refused, or never written to a socket.
//!     NotApplied(Verdict),
//! }
//!
//! async fn write<R: Report>(
//!     roles: &RoleWatch<R>,
//!     attempt: impl Fn(&Peer) -> Attempt,
//! ) -> Result<String, RoleError> {
//!     let started = tokio::time::Instant::now();
//!     let mut leader = roles.leader().await?;
//!     let mut resend = None;
//!     loop {
//!         match attempt(&leader) {
//!             Attempt::Done(reply) => return Ok(reply),
//!             Attempt::NotApplied(verdict) => {
//!                 let resend = resend.get_or_insert_with(|| roles.resend(started));
//!                 leader = resend.next_leader(verdict).await?;
//!             }
//!         }
//!     }
//! }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Report, RoleError, RoleWatch, Topology, Verdict};
use crate::Peer;

/// One request's wait for a leader that can apply it, after an attempt that was not
/// applied: the pod refused it (`READONLY`, 1290), could not serve it (`LOADING`), or
/// its connection was known dead before the request was written, or the dial failed.
///
/// The wait is bounded once per request: `failover_wait` from the request's start, its
/// first wait for a leader included, however many attempts follow; a request takes at
/// most that plus the attempt under way at the deadline. Each next leader comes from a
/// probe round asked for after the failed attempt. Made by [`RoleWatch::resend`] at the
/// first such failure, so that requests that succeed pay nothing for it.
#[derive(Debug)]
pub struct Resend<R> {
    roles: RoleWatch<R>,
    marker: watch::Receiver<Arc<Topology<R>>>,
    deadline: Instant,
    attempts: u32,
}

impl<R: Report> RoleWatch<R> {
    /// Starts the [`Resend`] budget of a request that `started` then, after its first
    /// attempt that was not applied: it ends `failover_wait` after `started`.
    pub fn resend(&self, started: Instant) -> Resend<R> {
        Resend {
            roles: self.clone(),
            marker: self.round_marker(),
            deadline: started + self.opts().failover_wait,
            attempts: 0,
        }
    }
}

impl<R: Report> Resend<R> {
    /// After an attempt known not to have been applied, whose outcome said `verdict`:
    /// acts on the verdict (a probe round now; a DNS refresh too if the pod may be
    /// gone), waits for a round that finishes after the attempt, and returns the leader
    /// it names, waiting for one until the budget ends.
    ///
    /// # Errors
    ///
    /// As [`RoleWatch::leader`]: [`RoleError::NoLeader`] when the budget is spent.
    pub async fn next_leader(&mut self, verdict: Verdict) -> Result<Peer, RoleError> {
        self.attempts += 1;
        self.marker.borrow_and_update();
        self.roles.observe(verdict);
        // Even a verdict that asks for nothing (a dial that failed) needs a fresh round.
        self.roles.refresh();
        let _ = tokio::time::timeout_at(self.deadline, self.marker.changed()).await;
        self.roles
            .leader_until(self.deadline, self.roles.opts().failover_wait)
            .await
    }

    /// Whether the budget is spent: the next attempt's failure would be final.
    pub fn is_spent(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// How many attempts failed unapplied so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// What an error says about sending its request again: whether that is safe (the
/// request was not applied anywhere) and may help (the cause can pass: a failover, a pod
/// away). Each adapter's `Error` implements it; [`ResendPolicy`] retries on it.
pub trait Resendable {
    /// Whether the request may be sent again.
    fn is_resendable(&self) -> bool;
}

/// A tower retry [`Policy`](tower::retry::Policy) that sends a request again only when
/// its error is [`Resendable`]: never after an outcome that is unknown (the request may
/// have been applied), never after an error about the request itself.
///
/// The adapters already wait through a failover inside one call, up to
/// `failover_wait`; this policy is for the calls that still fail unapplied (no leader in
/// time), with a pause between attempts.
///
/// ```
/// use std::time::Duration;
/// use headless_discovery::roles::ResendPolicy;
/// use tower::ServiceBuilder;
///
/// let layer = ServiceBuilder::new()
///     .retry(ResendPolicy::new(2, Duration::from_millis(250)))
///     .into_inner();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ResendPolicy {
    attempts: usize,
    pause: Duration,
}

impl ResendPolicy {
    /// At most `attempts` more sends per request, `pause` apart.
    pub fn new(attempts: usize, pause: Duration) -> Self {
        Self { attempts, pause }
    }
}

impl<Req: Clone, Res, E: Resendable> tower::retry::Policy<Req, Res, E> for ResendPolicy {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _request: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(error) if self.attempts > 0 && error.is_resendable() => {
                self.attempts -= 1;
                Some(tokio::time::sleep(self.pause))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}
