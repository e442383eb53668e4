//! The parts an adapter's tower services are built from: a [`Discover`](tower::discover::Discover)
//! over the fit replicas of a role topology, a power-of-two-choices balancer that keeps its
//! endpoints in place, the peak-EWMA cost for a service that measures its own calls, and
//! the timer that bounds a wait for a ready endpoint.
//!
//! Applications balance over pods with [`crate::balance`] and tower's own `Balance`; these
//! are for adapters (`headless-discovery-redis` and `-mysql` use them), where a pod
//! connection is ready almost always and the wrappers' per-request cost shows at loopback
//! rates (BENCHMARKS.md).
//!
//! # Examples
//!
//! Two endpoints that count their calls, balanced in place:
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use futures::stream;
//! use headless_discovery::Change;
//! use headless_discovery::roles::balance::P2c;
//! use tower::load::Constant;
//! use tower::{Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let calls = Arc::new(AtomicUsize::new(0));
//! let endpoint = |calls: Arc<AtomicUsize>| {
//!     Constant::new(
//!         service_fn(move |()| {
//!             calls.fetch_add(1, Ordering::Relaxed);
//!             async { Ok::<_, Infallible>(()) }
//!         }),
//!         1,
//!     )
//! };
//! let discover = stream::iter([
//!     Ok::<_, Infallible>(Change::Insert("redis-1", endpoint(calls.clone()))),
//!     Ok(Change::Insert("redis-2", endpoint(calls.clone()))),
//! ]);
//! let mut balancer = P2c::new(discover);
//! for _ in 0..10 {
//!     balancer.ready().await?.call(()).await?;
//! }
//! assert_eq!(balancer.len(), 2);
//! assert_eq!(calls.load(Ordering::Relaxed), 10);
//! # Ok(()) }
//! ```

mod p2c;
mod peak_ewma;
mod snapshot;
mod wait_bound;

pub use p2c::{NotReady, P2c, P2cFuture};
pub use peak_ewma::{Cost, PeakEwmaMeter, Started};
pub use snapshot::{FitReplicas, SelectFitReplicas, SnapshotDiscover};
pub use wait_bound::WaitBound;
