//! [`PeakEwmaMeter`]: tower's peak-EWMA load, kept by a service for its own calls.
//!
//! The cost is tower's `PeakEwma` (Finagle's): a peak-sensitive exponentially weighted
//! moving average of response times, times the requests in flight plus one. tower
//! measures by wrapping the service and its response future, one more layer per request;
//! at loopback rates those layers are a visible share of a round trip (BENCHMARKS.md). A
//! service that already owns its response future (a pod connection) can keep the meter
//! itself instead: [`start`](PeakEwmaMeter::start) when a call is made,
//! [`finish`](PeakEwmaMeter::finish) when its response arrives or it is dropped. The
//! calls in flight are counted by the caller, who usually holds a reference count per
//! call already.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use headless_discovery::roles::balance::PeakEwmaMeter;
//!
//! let meter = PeakEwmaMeter::new(Duration::from_millis(1), Duration::from_secs(1));
//! let idle = meter.cost(0);
//! let call = meter.start();
//! assert!(meter.cost(1) > idle, "a call in flight adds to the cost");
//! meter.finish(call);
//! assert!(meter.cost(0) <= idle, "a fast answer lowers the estimate");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Below this many decay periods since the last sample, `exp(-x)` is taken as
/// `1 - x + x²/2`, which is off by less than `x³/6` (2e-10).
const SERIES_UP_TO: f64 = 1e-3;

/// A service's load as the peak-EWMA of its response times (a slower response replaces
/// the estimate at once, faster ones pull it down gradually, and it fades toward zero
/// while no response comes in) multiplied by the calls in flight plus one.
///
/// The meter does not count calls in flight: [`cost`](Self::cost) takes their number.
///
/// Calls are timed only once the cost has been read: a service nobody weighs (used on its
/// own, or the only endpoint of a balancer) skips the clock reads and the lock per call,
/// and is measured from the first comparison on.
pub struct PeakEwmaMeter {
    epoch: Instant,
    /// Whether the cost has been read; until then `start` reads no clock.
    read: AtomicBool,
    decay_ns: f64,
    estimate: Mutex<Estimate>,
}

/// Behind a lock, as in tower: responses finish on the callers' threads while a balancer
/// reads, and a lost update could drop a peak.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// The current estimate, in nanoseconds.
    rtt_ns: f64,
    /// Nanoseconds since `epoch` at the last update.
    updated_ns: u64,
}

/// When a call was sent, from [`PeakEwmaMeter::start`]; give it back to
/// [`PeakEwmaMeter::finish`] when its response arrives or the call is dropped.
#[derive(Debug)]
#[must_use = "a started call is measured when it is finished"]
pub struct Started {
    /// `None` while nobody had read the cost: nothing to record.
    sent: Option<Instant>,
}

/// The load a [`PeakEwmaMeter`] reports: estimated nanoseconds of work queued at the
/// service. Lower is better.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Cost(f64);

impl Cost {
    /// The estimate, in nanoseconds of response time times calls in flight plus one.
    pub fn nanos(self) -> f64 {
        self.0
    }
}

impl PeakEwmaMeter {
    /// A meter that assumes `default_rtt` until a response says otherwise, and whose
    /// peaks fade with time constant `decay`.
    pub fn new(default_rtt: Duration, decay: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            read: AtomicBool::new(false),
            decay_ns: nanos(decay).max(1) as f64,
            estimate: Mutex::new(Estimate {
                rtt_ns: nanos(default_rtt) as f64,
                updated_ns: 0,
            }),
        }
    }

    /// A call sent now.
    pub fn start(&self) -> Started {
        Started {
            sent: self.read.load(Ordering::Relaxed).then(Instant::now),
        }
    }

    /// Records how long `call` took.
    pub fn finish(&self, call: Started) {
        let Some(sent) = call.sent else { return };
        let now = Instant::now();
        self.sample(
            nanos(now.saturating_duration_since(sent)),
            nanos(now.saturating_duration_since(self.epoch)),
        );
    }

    /// The cost now, with `in_flight` calls out.
    pub fn cost(&self, in_flight: usize) -> Cost {
        self.cost_at(Instant::now(), in_flight)
    }

    /// The cost at `now` with `in_flight` calls out, for a caller comparing several meters
    /// with one clock read.
    ///
    /// As in tower and Finagle, reading decays the estimate in place (an instant response
    /// observed now), so responses pull it down only from where reads left it and the
    /// cost stays led by peaks and calls in flight.
    pub fn cost_at(&self, now: Instant, in_flight: usize) -> Cost {
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
        let now = nanos(now.saturating_duration_since(self.epoch));
        let estimate = self.sample(0, now);
        Cost(estimate * (in_flight as f64 + 1.0))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Estimate> {
        // The estimate is two numbers, valid after any interrupted update.
        self.estimate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn rtt(&self) -> f64 {
        self.lock().rtt_ns
    }

    /// Records a response that took `rtt` nanoseconds and came `now` (since `epoch`);
    /// returns the new estimate.
    fn sample(&self, rtt: u64, now: u64) -> f64 {
        let rtt = rtt as f64;
        let mut estimate = self.lock();
        if rtt > estimate.rtt_ns {
            estimate.rtt_ns = rtt;
        } else {
            let weight = self.weight_of_past(estimate.updated_ns, now);
            estimate.rtt_ns = estimate.rtt_ns * weight + rtt * (1.0 - weight);
        }
        estimate.updated_ns = estimate.updated_ns.max(now);
        estimate.rtt_ns
    }

    /// `exp(-elapsed / decay)`: how much of an estimate updated at `updated` survives at `now`.
    fn weight_of_past(&self, updated: u64, now: u64) -> f64 {
        let elapsed = now.saturating_sub(updated) as f64;
        let x = elapsed / self.decay_ns;
        if x < SERIES_UP_TO {
            1.0 - x + x * x / 2.0
        } else {
            (-x).exp()
        }
    }
}

impl fmt::Debug for PeakEwmaMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeakEwmaMeter")
            .field("rtt_ns", &self.rtt())
            .finish_non_exhaustive()
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(default_rtt_ns: u64) -> PeakEwmaMeter {
        PeakEwmaMeter::new(Duration::from_nanos(default_rtt_ns), Duration::from_secs(1))
    }

    #[test]
    fn a_slower_response_is_taken_at_once_faster_ones_pull_down_gradually() {
        let m = meter(1_000);
        m.sample(5_000, 5_000);
        assert_eq!(m.rtt(), 5_000.0, "peak taken as is");

        // A fast answer half a decay period later keeps exp(-0.5) of the peak.
        m.sample(100, 500_005_000);
        let kept = (-0.5f64).exp();
        let expected = 5_000.0 * kept + 100.0 * (1.0 - kept);
        assert!(
            (m.rtt() - expected).abs() < 1e-6,
            "{} vs {expected}",
            m.rtt()
        );
    }

    #[test]
    fn the_series_matches_the_exponential_where_it_is_used() {
        let m = meter(1);
        for elapsed in [
            0u64, 1, 1_000, 100_000, 999_999, 1_000_000, 2_000_000, 50_000_000,
        ] {
            let x = elapsed as f64 / 1e9;
            assert!(
                (m.weight_of_past(0, elapsed) - (-x).exp()).abs() < 1e-9,
                "at {elapsed} ns"
            );
        }
    }

    #[test]
    fn the_cost_fades_while_idle_and_reading_keeps_the_decay() {
        let m = meter(1_000);
        let later = m.cost_at(m.epoch + Duration::from_secs(2), 0).nanos();
        assert!((later - 1_000.0 * (-2.0f64).exp()).abs() < 1e-6, "{later}");
        assert_eq!(m.rtt(), later, "the read decayed the estimate in place");
        // A response now pulls down from there, not from the old estimate.
        m.sample(50, 2_000_000_000);
        assert!(m.rtt() <= later);
    }

    #[test]
    fn calls_are_timed_only_once_the_cost_has_been_read() {
        let m = meter(1_000_000);
        let unread = m.start();
        assert!(
            unread.sent.is_none(),
            "nobody compared it yet: no clock read"
        );
        m.finish(unread);
        assert_eq!(m.rtt(), 1_000_000.0, "nothing recorded");
        let read_at = m.cost(0);
        let call = m.start();
        assert!(call.sent.is_some());
        m.finish(call);
        assert!(m.rtt() < read_at.nanos(), "a fast answer recorded");
    }

    #[test]
    fn calls_in_flight_multiply_the_cost_and_fast_answers_lower_it() {
        let m = meter(1_000_000);
        let idle = m.cost_at(m.epoch, 0).nanos();
        assert_eq!(
            m.cost_at(m.epoch, 2).nanos(),
            3.0 * idle,
            "two in flight: three times"
        );
        let calls = [m.start(), m.start()];
        for call in calls {
            m.finish(call);
        }
        assert!(
            m.cost(0).nanos() < idle,
            "answers faster than 1 ms lower it"
        );
    }
}
