//! [`PeakEwma`]: tower's peak-EWMA load measure with less work per request.
//!
//! The cost is tower's `PeakEwma` (Finagle's): a peak-sensitive exponentially weighted
//! moving average of response times, times the requests in flight plus one. tower keeps
//! the estimate behind a mutex, reads the clock and takes an exponential again whenever
//! the load is read, and converts every time through `Duration`; at loopback rates that
//! is most of a balancer's cost per request (BENCHMARKS.md). Here the estimate lives in
//! two atomics in nanoseconds, reading the load changes nothing, and the exponential
//! gives way to its series when the last sample is only a moment old.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use discovery::balance::PeakEwma;
//! use tower::load::{CompleteOnResponse, Load};
//! use tower::{Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let pod = service_fn(|n: u32| async move { Ok::<_, tower::BoxError>(n * 2) });
//! let mut pod = PeakEwma::new(
//!     pod,
//!     Duration::from_millis(1),
//!     Duration::from_secs(1),
//!     CompleteOnResponse::default(),
//! );
//! let idle = pod.load();
//! assert_eq!(pod.ready().await?.call(21).await?, 42);
//! assert!(pod.load() <= idle, "a fast answer lowers the estimate");
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use tower::Service;
use tower::discover::Change;
use tower::load::completion::{TrackCompletion, TrackCompletionFuture};
use tower::load::{CompleteOnResponse, Load};

/// Below this many decay periods since the last sample, `exp(-x)` is taken as
/// `1 - x + x²/2`, which is off by less than `x³/6` (2e-10).
const SERIES_UP_TO: f64 = 1e-3;

/// Wraps a service and measures its load as the peak-EWMA of its response times (the
/// "peak" part: a slower response replaces the estimate at once, faster ones pull it
/// down gradually) multiplied by the requests in flight plus one.
///
/// A request counts as in flight until its [`Handle`] is dropped: with
/// [`CompleteOnResponse`], when the response arrives; with another
/// [`TrackCompletion`], whenever that decides (a pooled connection's return, say).
pub struct PeakEwma<S, C = CompleteOnResponse> {
    service: S,
    completion: C,
    estimate: Arc<Estimate>,
}

/// The [`Load`] of a [`PeakEwma`]: estimated nanoseconds of work queued at the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Cost(f64);

impl Cost {
    /// The estimate, in nanoseconds of response time times requests in flight plus one.
    pub fn nanos(self) -> f64 {
        self.0
    }
}

/// One request in flight: counts toward its endpoint's load until dropped, and records
/// how long it was out then.
pub struct Handle {
    estimate: Arc<Estimate>,
    sent_ns: u64,
}

/// Shared by a [`PeakEwma`] and the [`Handle`]s of its requests; the handles' number is
/// the count of requests in flight. Updates are loads and stores rather than a locked
/// read-modify-write: two responses finishing at the same instant may keep only one
/// sample, which an average over thousands does not notice.
struct Estimate {
    epoch: Instant,
    decay_ns: f64,
    /// `f64` bits: the current estimate, in nanoseconds.
    rtt_ns: AtomicU64,
    /// Nanoseconds since `epoch` at the last sample.
    sampled_ns: AtomicU64,
}

impl<S, C> PeakEwma<S, C> {
    /// Measures `service`, which is assumed to answer in `default_rtt` until it has, and
    /// whose peaks fade with time constant `decay`.
    pub fn new(service: S, default_rtt: Duration, decay: Duration, completion: C) -> Self {
        Self {
            service,
            completion,
            estimate: Arc::new(Estimate {
                epoch: Instant::now(),
                decay_ns: nanos(decay).max(1) as f64,
                rtt_ns: AtomicU64::new((nanos(default_rtt) as f64).to_bits()),
                sampled_ns: AtomicU64::new(0),
            }),
        }
    }

    /// The measured service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// The measured service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// A handle for a request sent now, for callers that track completion themselves.
    pub fn handle(&self) -> Handle {
        Handle {
            sent_ns: self.estimate.now_ns(),
            estimate: Arc::clone(&self.estimate),
        }
    }

    /// Requests in flight: the handles alive besides the service's own reference.
    fn pending(&self) -> u32 {
        u32::try_from(Arc::strong_count(&self.estimate) - 1).unwrap_or(u32::MAX)
    }
}

impl<S, C, Request> Service<Request> for PeakEwma<S, C>
where
    S: Service<Request>,
    C: TrackCompletion<Handle, S::Response>,
{
    type Response = C::Output;
    type Error = S::Error;
    type Future = TrackCompletionFuture<S::Future, C, Handle>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let handle = self.handle();
        TrackCompletionFuture::new(self.completion.clone(), handle, self.service.call(request))
    }
}

impl<S, C> Load for PeakEwma<S, C> {
    type Metric = Cost;

    fn load(&self) -> Cost {
        let estimate = self.estimate.decayed(self.estimate.now_ns());
        Cost(estimate * f64::from(self.pending().saturating_add(1)))
    }
}

impl<S: fmt::Debug, C> fmt::Debug for PeakEwma<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeakEwma")
            .field("service", &self.service)
            .field("rtt_ns", &self.estimate.rtt())
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("sent_ns", &self.sent_ns)
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.estimate.sample(self.sent_ns, self.estimate.now_ns());
    }
}

impl Estimate {
    fn now_ns(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    fn rtt(&self) -> f64 {
        f64::from_bits(self.rtt_ns.load(Ordering::Relaxed))
    }

    /// Records a response that took from `sent` to `now`.
    fn sample(&self, sent: u64, now: u64) {
        let rtt = now.saturating_sub(sent) as f64;
        let current = self.rtt();
        let next = if rtt > current {
            rtt
        } else {
            let weight = self.weight_of_past(now);
            current * weight + rtt * (1.0 - weight)
        };
        self.rtt_ns.store(next.to_bits(), Ordering::Relaxed);
        self.sampled_ns.fetch_max(now, Ordering::Relaxed);
    }

    /// The estimate decayed toward zero for the time since the last sample, as if an
    /// instant response had come in now (so an idle endpoint looks better over time).
    fn decayed(&self, now: u64) -> f64 {
        self.rtt() * self.weight_of_past(now)
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

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pin_project_lite::pin_project! {
    /// Wraps every service a `Discover` stream inserts in a [`PeakEwma`], as tower's
    /// `PeakEwmaDiscover` does with its own.
    pub struct PeakEwmaDiscover<D, C = CompleteOnResponse> {
        #[pin]
        discover: D,
        default_rtt: Duration,
        decay: Duration,
        completion: C,
    }
}

impl<D, C> PeakEwmaDiscover<D, C> {
    /// Measures each inserted service with [`PeakEwma::new`]`(service, default_rtt, decay,
    /// completion)`.
    pub fn new(discover: D, default_rtt: Duration, decay: Duration, completion: C) -> Self {
        Self {
            discover,
            default_rtt,
            decay,
            completion,
        }
    }
}

impl<D: fmt::Debug, C> fmt::Debug for PeakEwmaDiscover<D, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeakEwmaDiscover")
            .field("discover", &self.discover)
            .finish_non_exhaustive()
    }
}

impl<D, K, S, E, C> Stream for PeakEwmaDiscover<D, C>
where
    D: Stream<Item = Result<Change<K, S>, E>>,
    C: Clone,
{
    type Item = Result<Change<K, PeakEwma<S, C>>, E>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let change = futures::ready!(this.discover.poll_next(cx));
        Poll::Ready(change.map(|change| {
            change.map(|change| match change {
                Change::Insert(key, service) => Change::Insert(
                    key,
                    PeakEwma::new(
                        service,
                        *this.default_rtt,
                        *this.decay,
                        this.completion.clone(),
                    ),
                ),
                Change::Remove(key) => Change::Remove(key),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(default_rtt_ns: f64) -> Estimate {
        Estimate {
            epoch: Instant::now(),
            decay_ns: 1e9,
            rtt_ns: AtomicU64::new(default_rtt_ns.to_bits()),
            sampled_ns: AtomicU64::new(0),
        }
    }

    #[test]
    fn a_slower_response_is_taken_at_once_faster_ones_pull_down_gradually() {
        let e = estimate(1_000.0);
        e.sample(0, 5_000);
        assert_eq!(e.rtt(), 5_000.0, "peak taken as is");

        // A fast answer half a decay period later keeps exp(-0.5) of the peak.
        e.sample(500_004_900, 500_005_000);
        let kept = (-0.5f64).exp();
        let expected = 5_000.0 * kept + 100.0 * (1.0 - kept);
        assert!(
            (e.rtt() - expected).abs() < 1e-6,
            "{} vs {expected}",
            e.rtt()
        );
    }

    #[test]
    fn the_series_matches_the_exponential_where_it_is_used() {
        let e = estimate(1.0);
        for elapsed in [
            0u64, 1, 1_000, 100_000, 999_999, 1_000_000, 2_000_000, 50_000_000,
        ] {
            let x = elapsed as f64 / 1e9;
            assert!(
                (e.weight_of_past(elapsed) - (-x).exp()).abs() < 1e-9,
                "at {elapsed} ns"
            );
        }
    }

    #[test]
    fn reading_decays_toward_zero_without_changing_the_estimate() {
        let e = estimate(1_000.0);
        let later = e.decayed(2_000_000_000);
        assert!((later - 1_000.0 * (-2.0f64).exp()).abs() < 1e-6, "{later}");
        assert_eq!(e.rtt(), 1_000.0);
    }

    #[tokio::test]
    async fn load_counts_requests_in_flight_until_their_handles_drop() {
        let service = tower::service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) });
        let ewma = PeakEwma::new(
            service,
            Duration::from_millis(1),
            Duration::from_secs(1),
            CompleteOnResponse::default(),
        );
        let idle = ewma.load().nanos();
        let handles = [ewma.handle(), ewma.handle()];
        let busy = ewma.load().nanos();
        assert!(
            busy > 2.5 * idle && busy <= 3.0 * idle,
            "two in flight: about three times the idle cost ({idle} -> {busy})"
        );
        drop(handles);
        assert!(ewma.load().nanos() <= idle);
    }

    #[tokio::test]
    async fn the_discover_wrapper_measures_each_inserted_service_and_passes_removals() {
        use futures::{StreamExt, stream};

        let changes: Vec<Result<Change<&str, u8>, std::convert::Infallible>> =
            vec![Ok(Change::Insert("a", 1)), Ok(Change::Remove("a"))];
        let mut discover = PeakEwmaDiscover::new(
            stream::iter(changes),
            Duration::from_millis(2),
            Duration::from_secs(1),
            CompleteOnResponse::default(),
        );
        match discover.next().await {
            Some(Ok(Change::Insert("a", ewma))) => {
                assert_eq!(*ewma.get_ref(), 1);
                let cost = ewma.load().nanos();
                assert!(
                    cost > 1.9e6 && cost <= 2e6,
                    "starts at the default rtt: {cost}"
                );
            }
            other => panic!("expected the insert, got {other:?}"),
        }
        assert!(matches!(
            discover.next().await,
            Some(Ok(Change::Remove("a")))
        ));
        assert!(discover.next().await.is_none());
    }
}
