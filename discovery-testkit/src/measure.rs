//! Comparing a client path against its baseline on a small shared machine.
//!
//! When the client and the servers share two cores, a loopback run's throughput drifts by
//! tens of percent within seconds, and a few long windows per side cannot tell a 5 %
//! difference apart. [`compare`] runs many short windows in pairs, which side goes first
//! alternating so that neither inherits the other's wake, and a [`Comparison`] reports the
//! median of the paired ratios with their quartiles, for throughput and p99 alike.
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, Instant};
//! use headless_discovery_testkit::measure::{Window, compare};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // One window: run the path for 10 ms, keep every latency.
//! async fn window(work: u32) -> Window {
//!     let length = Duration::from_millis(10);
//!     let deadline = Instant::now() + length;
//!     let mut latencies = Vec::new();
//!     while Instant::now() < deadline {
//!         let started = Instant::now();
//!         std::hint::black_box((0..work).sum::<u32>());
//!         latencies.push(started.elapsed());
//!     }
//!     Window::from_latencies(latencies, length)
//! }
//! let comparison = compare(4, || window(10), || window(10)).await;
//! println!("{comparison}");
//! assert!(comparison.throughput_ratio().median > 0.0);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

/// What one window of one path measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Requests completed per second.
    pub ops_per_sec: f64,
    /// The 99th percentile of the requests' latencies.
    pub p99: Duration,
}

impl Window {
    /// The window that completed these requests in `length`.
    pub fn from_latencies(mut latencies: Vec<Duration>, length: Duration) -> Self {
        latencies.sort_unstable();
        Self {
            ops_per_sec: latencies.len() as f64 / length.as_secs_f64().max(f64::MIN_POSITIVE),
            p99: quantile(&latencies, 0.99),
        }
    }
}

/// First quartile, median and third quartile of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quartiles {
    /// The first quartile.
    pub low: f64,
    /// The median.
    pub median: f64,
    /// The third quartile.
    pub high: f64,
}

impl Quartiles {
    /// The quartiles of `values` (zeros when there are none).
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self {
                low: 0.0,
                median: 0.0,
                high: 0.0,
            };
        }
        values.sort_by(f64::total_cmp);
        let at = |q: usize| values[(values.len() - 1) * q / 4];
        Self {
            low: at(1),
            median: at(2),
            high: at(3),
        }
    }
}

/// Paired windows of a baseline and of the path under test, from [`compare`].
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// The baseline's windows, in round order.
    pub baseline: Vec<Window>,
    /// The path's windows, each paired with the baseline's of the same round.
    pub ours: Vec<Window>,
}

impl Comparison {
    /// Per round, our throughput over the baseline's (≥ 0.95: at most ~5 % slower).
    pub fn throughput_ratio(&self) -> Quartiles {
        Quartiles::of(
            self.pairs()
                .map(|(b, o)| o.ops_per_sec / b.ops_per_sec)
                .collect(),
        )
    }

    /// Per round, the baseline's p99 over ours (≥ 0.95: at most ~5 % slower).
    pub fn p99_ratio(&self) -> Quartiles {
        Quartiles::of(
            self.pairs()
                .map(|(b, o)| b.p99.as_secs_f64() / o.p99.as_secs_f64())
                .collect(),
        )
    }

    fn pairs(&self) -> impl Iterator<Item = (&Window, &Window)> {
        self.baseline.iter().zip(&self.ours)
    }
}

impl fmt::Display for Comparison {
    /// Both sides' median throughput and p99, then the paired ratios with quartiles.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let median_ops = |windows: &[Window]| {
            Quartiles::of(windows.iter().map(|w| w.ops_per_sec).collect()).median
        };
        let median_p99_us = |windows: &[Window]| {
            Quartiles::of(windows.iter().map(|w| w.p99.as_secs_f64() * 1e6).collect()).median
        };
        let (t, l) = (self.throughput_ratio(), self.p99_ratio());
        write!(
            f,
            "direct {:.0} ops/s, p99 {:.0} µs | ours {:.0} ops/s, p99 {:.0} µs | \
             throughput ratio {:.3} ({:.3}..{:.3}), p99 ratio {:.3} ({:.3}..{:.3})",
            median_ops(&self.baseline),
            median_p99_us(&self.baseline),
            median_ops(&self.ours),
            median_p99_us(&self.ours),
            t.median,
            t.low,
            t.high,
            l.median,
            l.low,
            l.high,
        )
    }
}

/// A bench's `sequential <path> <count>` arguments: send `count` requests one at a time
/// through one path and exit, for counting instructions per request with callgrind,
/// which, unlike wall time, does not depend on what else the machine is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequential {
    /// Which path to drive (the bench names its own).
    pub path: String,
    /// How many requests.
    pub count: usize,
}

impl Sequential {
    /// The arguments, if the command line asks for a sequential run.
    ///
    /// # Panics
    ///
    /// If `sequential` is not followed by a path and a count: the bench was misused,
    /// and `usage` says how.
    pub fn from_args(usage: &str) -> Option<Self> {
        let args: Vec<String> = std::env::args().collect();
        let at = args.iter().position(|a| a == "sequential")?;
        let path = args.get(at + 1).expect(usage).clone();
        let count = args.get(at + 2).and_then(|c| c.parse().ok()).expect(usage);
        Some(Self { path, count })
    }
}

/// The runtime a bench runs on: one thread for a sequential run, so that callgrind counts
/// the same polls every time; else two workers, the cores client and servers share here.
///
/// # Panics
///
/// If the runtime cannot be built (no threads left).
pub fn bench_runtime(sequential: bool) -> tokio::runtime::Runtime {
    let mut builder = if sequential {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    };
    builder.enable_all().build().expect("a tokio runtime")
}

/// Runs `rounds` pairs of windows, one of `baseline` and one of `ours` each, which goes
/// first alternating.
pub async fn compare<B, BF, O, OF>(rounds: usize, mut baseline: B, mut ours: O) -> Comparison
where
    B: FnMut() -> BF,
    BF: Future<Output = Window>,
    O: FnMut() -> OF,
    OF: Future<Output = Window>,
{
    let mut comparison = Comparison::default();
    for round in 0..rounds {
        if round % 2 == 0 {
            comparison.baseline.push(baseline().await);
            comparison.ours.push(ours().await);
        } else {
            comparison.ours.push(ours().await);
            comparison.baseline.push(baseline().await);
        }
    }
    comparison
}

/// The value at quantile `q` (0..=1) of sorted durations; zero for none.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(ops: f64, p99_us: u64) -> Window {
        Window {
            ops_per_sec: ops,
            p99: Duration::from_micros(p99_us),
        }
    }

    #[test]
    fn ratios_are_paired_per_round_not_taken_of_the_medians() {
        // The machine drifts: round 2 is twice as fast for both sides.
        let comparison = Comparison {
            baseline: vec![window(100.0, 200), window(200.0, 100), window(100.0, 200)],
            ours: vec![window(95.0, 210), window(190.0, 105), window(90.0, 220)],
        };
        let t = comparison.throughput_ratio();
        assert_eq!((t.low, t.median, t.high), (0.9, 0.95, 0.95));
        let l = comparison.p99_ratio();
        assert!((l.median - 200.0 / 210.0).abs() < 1e-9, "{l:?}");
        let line = comparison.to_string();
        assert!(
            line.contains("throughput ratio 0.950 (0.900..0.950)"),
            "{line}"
        );
    }

    #[test]
    fn windows_count_requests_and_take_the_p99() {
        let latencies = (1..=100).map(Duration::from_micros).collect();
        let w = Window::from_latencies(latencies, Duration::from_millis(500));
        assert_eq!(w.ops_per_sec, 200.0);
        assert_eq!(w.p99, Duration::from_micros(99));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
