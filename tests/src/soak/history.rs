//! What the clients saw: one [`Request`] per call, recorded by the [`requests`] loop.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Which API a request went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A write to the leader.
    Write,
    /// A read from a replica (or the fallback the read policy allows).
    Read,
    /// A read with a consistency token: it must see the write the token came from.
    ReadYourWrite,
    /// A transaction on a session held across requests (`BEGIN`, a write, `COMMIT`):
    /// it stays on its pod, so a failover fails it, and it is not sent again.
    Transaction,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged (a write) or answered with what it had to see (a read).
    Ok,
    /// A read-your-writes read answered without its own write.
    Missed,
    /// Failed.
    Failed {
        /// The crate's error variant (`NoMaster`, `Pod`, …), or [`RAW`] for an error of
        /// the driver's own type from a raw connection.
        variant: String,
        /// The error's text.
        message: String,
        /// Whether the error leaves open that the request took effect (an unknown
        /// outcome); else it says the request applied nothing.
        may_have_applied: bool,
    },
}

/// What an adapter's error says about whether the failed request took effect.
pub trait MaybeApplied {
    /// Whether it may have been applied: the crate's "outcome unknown".
    fn may_have_applied(&self) -> bool;
}

impl MaybeApplied for headless_discovery_mysql::Error {
    fn may_have_applied(&self) -> bool {
        self.is_outcome_unknown()
    }
}

impl MaybeApplied for headless_discovery_redis::Error {
    fn may_have_applied(&self) -> bool {
        self.is_outcome_unknown()
    }
}

/// The variant of an error that did not come as the crate's `Error`.
pub const RAW: &str = "raw driver error";

impl Outcome {
    /// A failure with the crate's typed error: its variant is the name its `Debug` opens
    /// with.
    pub fn typed(error: &(impl std::fmt::Debug + std::fmt::Display + MaybeApplied)) -> Self {
        let debug = format!("{error:?}");
        let variant = debug
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .next()
            .unwrap_or_default()
            .to_owned();
        Self::Failed {
            variant,
            message: error.to_string(),
            may_have_applied: error.may_have_applied(),
        }
    }

    /// A failure with a driver error from a raw connection: it says nothing of what
    /// was applied.
    pub fn raw(error: &impl std::fmt::Display) -> Self {
        Self::Failed {
            variant: RAW.to_owned(),
            message: error.to_string(),
            may_have_applied: true,
        }
    }
}

/// One request as a client saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which API.
    pub kind: Kind,
    /// The unique key written, or read.
    pub key: String,
    /// The pod (hostname) that served it, when it got that far.
    pub pod: Option<String>,
    /// The SDK's leader (hostname) just before and just after the request was sent.
    pub leader: [Option<String>; 2],
    /// The probe round (when it finished) each of those leaders came from.
    pub rounds: [Option<Instant>; 2],
    /// When it was sent.
    pub started: Instant,
    /// When the answer came.
    pub ended: Instant,
    /// How it ended.
    pub outcome: Outcome,
}

impl Request {
    /// Whether the SDK named another pod leader from just before to just after this
    /// write was sent, in one probe round: then the pod was never its choice while the
    /// write went out. (When a round ended in between, the choice may have moved and
    /// back, and this history cannot tell; it does not count.)
    pub fn sent_to_non_leader(&self) -> bool {
        let Some(pod) = &self.pod else { return false };
        self.kind == Kind::Write
            && self.rounds[0].is_some()
            && self.rounds[0] == self.rounds[1]
            && self.leader[0].as_ref().is_some_and(|l| l != pod)
    }
}

/// What one call gave: its requests (a write and its read back are two).
pub type Sent = Vec<Request>;

/// Makes call `n` = 0, 1, … every 5 ms until `stop`, keeping the requests each made.
pub async fn requests<F, Fut>(stop: &AtomicBool, mut request: F) -> Vec<Request>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Sent>,
{
    let mut history = Vec::new();
    for n in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        history.extend(request(n).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    history
}

/// A request under way: fill in what happened, then [`finish`](Self::finish) it.
#[derive(Debug)]
pub struct Pending {
    request: Request,
}

impl Pending {
    /// A request of `kind` for `key`, starting now.
    pub fn start(kind: Kind, key: impl Into<String>) -> Self {
        let now = Instant::now();
        Self {
            request: Request {
                kind,
                key: key.into(),
                pod: None,
                leader: [None, None],
                rounds: [None, None],
                started: now,
                ended: now,
                outcome: Outcome::Ok,
            },
        }
    }

    /// The pod it went to.
    pub fn pod(&mut self, pod: &str) {
        self.request.pod = Some(pod.to_owned());
    }

    /// The SDK's leader just before (`0`) or just after (`1`) the send, and when the
    /// probe round that named it finished.
    pub fn leader(&mut self, at: usize, (leader, round): (Option<String>, Instant)) {
        self.request.leader[at] = leader;
        self.request.rounds[at] = Some(round);
    }

    /// Ends it now with `outcome`.
    pub fn finish(mut self, outcome: Outcome) -> Request {
        self.request.ended = Instant::now();
        self.request.outcome = outcome;
        self.request
    }
}
