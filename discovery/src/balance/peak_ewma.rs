//! [`PeakEwmaMeter`]: tower's peak-EWMA load, kept by a service for its own calls.
//!
//! The cost is tower's `PeakEwma` (Finagle's): a peak-sensitive exponentially weighted
//! moving average of response times, times the requests in flight plus one. tower
//! measures by wrapping the service and its response future, one more layer per request;
//! at loopback rates those layers are a visible share of a round trip (BENCHMARKS.md). A
//! service that already owns its response future (a pod connection) can keep the meter
//! itself instead: [`start`](PeakEwmaMeter::start) when a call is made,
//! [`finish`](PeakEwmaMeter::finish) when its response arrives or it is dropped. The
//! estimate lives in atomics, so the future needs no lock, and the calls in flight are
//! counted by the caller, who usually holds a reference count per call already.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use discovery::balance::PeakEwmaMeter;
//!
//! let meter = PeakEwmaMeter::new(Duration::from_millis(1), Duration::from_secs(1));
//! let idle = meter.cost(0);
//! let call = meter.start();
//! assert!(meter.cost(1) > idle, "a call in flight adds to the cost");
//! meter.finish(call);
//! assert!(meter.cost(0) <= idle, "a fast answer lowers the estimate");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Below this many decay periods since the last sample, `exp(-x)` is taken as
/// `1 - x + x²/2`, which is off by less than `x³/6` (2e-10).
const SERIES_UP_TO: f64 = 1e-3;

/// A service's load as the peak-EWMA of its response times (a slower response replaces
/// the estimate at once, faster ones pull it down gradually, and it fades toward zero
/// while no response comes in) multiplied by the calls in flight plus one.
///
/// Two responses finishing at the same instant may keep only one sample between them: the
/// estimate is stored, not locked, which an average over thousands does not notice. The
/// meter does not count calls in flight: [`cost`](Self::cost) takes their number.
///
/// Calls are timed only once the cost has been read: a service nobody weighs (used on its
/// own, or the only endpoint of a balancer) skips the two clock reads per call, and is
/// measured from the first comparison on.
pub struct PeakEwmaMeter {
    epoch: Instant,
    /// Whether the cost has been read; until then `start` reads no clock.
    read: AtomicBool,
    decay_ns: f64,
    /// `f64` bits: the current estimate, in nanoseconds.
    rtt_ns: AtomicU64,
    /// Nanoseconds since `epoch` at the last sample.
    sampled_ns: AtomicU64,
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
            rtt_ns: AtomicU64::new((nanos(default_rtt) as f64).to_bits()),
            sampled_ns: AtomicU64::new(0),
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
    pub fn cost_at(&self, now: Instant, in_flight: usize) -> Cost {
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
        let now = nanos(now.saturating_duration_since(self.epoch));
        Cost(self.rtt() * self.weight_of_past(now) * (in_flight as f64 + 1.0))
    }

    fn rtt(&self) -> f64 {
        f64::from_bits(self.rtt_ns.load(Ordering::Relaxed))
    }

    /// Records a response that took `rtt` nanoseconds and came `now` (since `epoch`).
    fn sample(&self, rtt: u64, now: u64) {
        let rtt = rtt as f64;
        let current = self.rtt();
        let next = if rtt > current {
            rtt
        } else {
            let weight = self.weight_of_past(now);
            current * weight + rtt * (1.0 - weight)
        };
        self.rtt_ns.store(next.to_bits(), Ordering::Relaxed);
        self.sampled_ns.store(now, Ordering::Relaxed);
    }

    /// `exp(-elapsed / decay)`: how much of the estimate survives since the last sample.
    fn weight_of_past(&self, now: u64) -> f64 {
        let elapsed = now.saturating_sub(self.sampled_ns.load(Ordering::Relaxed)) as f64;
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
                (m.weight_of_past(elapsed) - (-x).exp()).abs() < 1e-9,
                "at {elapsed} ns"
            );
        }
    }

    #[test]
    fn the_cost_fades_while_idle_without_changing_the_estimate() {
        let m = meter(1_000);
        let later = m.cost_at(m.epoch + Duration::from_secs(2), 0).nanos();
        assert!((later - 1_000.0 * (-2.0f64).exp()).abs() < 1e-6, "{later}");
        assert_eq!(m.rtt(), 1_000.0);
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
        let _ = m.cost(0);
        let read = m.start();
        assert!(read.sent.is_some());
        m.finish(read);
        assert!(m.rtt() < 1_000_000.0, "a fast answer recorded");
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
