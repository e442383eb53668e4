//! [`P2c`]: power-of-two-choices over endpoints that stay in place.
//!
//! tower's `Balance` keeps endpoints in a ready cache and moves the chosen one out and
//! back through a pending future on every call, so that it can drive endpoints that are
//! only sometimes ready. Pod connections are ready almost always; moving them costs a
//! noticeable share of a loopback round trip at high rates (BENCHMARKS.md). This balancer
//! keeps the same algorithm and tower's load measures (`Load`, PeakEwma) and discovery
//! contract (`Discover`), but checks readiness in place.

use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use futures::future::{Either, MapErr};
use futures::{Stream, TryFutureExt};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tower::discover::Change;
use tower::load::Load;
use tower::{BoxError, Service};

/// Power of two choices over endpoints kept in place: picks two at random and sends to
/// the less loaded (tower's [`Load`], e.g. PeakEwma) of those that are ready.
///
/// `Pending` while no endpoint is ready (the discovery stream and the endpoints polled
/// register the wake-ups), which [`WaitBound`](super::WaitBound) or [`WaitForPeers`](crate::balance::WaitForPeers) bounds. Made for
/// endpoints whose `poll_ready` stays `Pending` while they are unreachable rather than
/// failing: a failing endpoint is simply never chosen, and stays until discovery removes it.
pub struct P2c<D, K, S> {
    discover: D,
    endpoints: Vec<(K, S)>,
    chosen: Option<usize>,
    /// A small fast generator of its own, as tower's balancer has: thread-local ChaCha
    /// costs more per pick than the rest of the choice.
    rng: SmallRng,
}

impl<D, K, S> fmt::Debug for P2c<D, K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("P2c")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl<D, K, S> P2c<D, K, S> {
    /// A balancer over the endpoints `discover` inserts and removes.
    pub fn new(discover: D) -> Self {
        Self {
            discover,
            endpoints: Vec::new(),
            chosen: None,
            rng: SmallRng::seed_from_u64(rand::random()),
        }
    }
}

impl<D, K, S, E> P2c<D, K, S>
where
    D: Stream<Item = Result<Change<K, S>, E>> + Unpin,
    K: PartialEq,
{
    /// Applies every change discovery has ready. An `Insert` for a known key replaces it.
    fn update(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some(Ok(change))) =
            std::pin::Pin::new(&mut self.discover).poll_next(cx)
        {
            self.chosen = None;
            match change {
                Change::Insert(key, service) => {
                    match self.endpoints.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = service,
                        None => self.endpoints.push((key, service)),
                    }
                }
                Change::Remove(key) => self.endpoints.retain(|(k, _)| *k != key),
            }
        }
    }
}

impl<D, K, S, E, Req> Service<Req> for P2c<D, K, S>
where
    D: Stream<Item = Result<Change<K, S>, E>> + Unpin,
    K: PartialEq,
    S: Service<Req> + Load,
    S::Error: Into<BoxError>,
    S::Metric: PartialOrd,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = P2cFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.update(cx);
        let chosen = power_of_two_choices(
            &mut self.rng,
            &mut self.endpoints,
            |(_, endpoint)| matches!(endpoint.poll_ready(cx), Poll::Ready(Ok(()))),
            |(_, endpoint)| endpoint.load(),
        );
        match chosen {
            Some(index) => {
                self.chosen = Some(index);
                Poll::Ready(Ok(()))
            }
            None => Poll::Pending,
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        match self.call_chosen(request) {
            Some(future) => Either::Left(future.map_err(Into::into as fn(S::Error) -> BoxError)),
            None => Either::Right(ready(Err(Box::new(NotReady) as BoxError))),
        }
    }
}

impl<D, K, S> P2c<D, K, S> {
    /// Calls the endpoint the last `poll_ready` chose and returns that endpoint's own
    /// future, errors unboxed: for a wrapper that has its own error type and wants no
    /// future layer of the balancer's. `None` when `poll_ready` has chosen none since
    /// the last call.
    pub fn call_chosen<Req>(&mut self, request: Req) -> Option<S::Future>
    where
        S: Service<Req>,
    {
        // `poll_ready` chose an index, and nothing changed the endpoints since (that needs
        // `&mut self`, and every change clears the choice).
        let index = self.chosen.take()?;
        let (_, endpoint) = self.endpoints.get_mut(index)?;
        Some(endpoint.call(request))
    }

    /// How many endpoints discovery has inserted and not removed.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether discovery has no endpoint in place.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

/// Power of two choices: picks two of `endpoints` at random and returns the index of the
/// less loaded of those that are `ready`, or of any ready endpoint when neither is.
///
/// `ready` is typically the endpoint's `poll_ready` (registering its wake-up); it is asked
/// about the two picks, and about every endpoint in turn when neither pick is ready.
/// Loads are read only when both picks are ready.
fn power_of_two_choices<T, L: PartialOrd>(
    rng: &mut SmallRng,
    endpoints: &mut [T],
    mut ready: impl FnMut(&mut T) -> bool,
    mut load: impl FnMut(&T) -> L,
) -> Option<usize> {
    let n = endpoints.len();
    if n == 0 {
        return None;
    }
    let a = if n == 1 { 0 } else { rng.random_range(0..n) };
    let mut best = ready(&mut endpoints[a]).then_some(a);
    if n > 1 {
        let b = (a + 1 + rng.random_range(0..n - 1)) % n;
        if ready(&mut endpoints[b]) {
            best = match best {
                Some(a) if load(&endpoints[a]) <= load(&endpoints[b]) => Some(a),
                _ => Some(b),
            };
        }
    }
    // Both picks busy or unreachable: any ready endpoint will do.
    best.or_else(|| (0..n).find(|&i| ready(&mut endpoints[i])))
}

/// The future of a [`P2c`] call: the endpoint's, errors boxed.
pub type P2cFuture<F, T, E> = Either<MapErr<F, fn(E) -> BoxError>, Ready<Result<T, BoxError>>>;

/// A [`P2c`] was called without `poll_ready` having returned `Ready(Ok)` first.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the balancer was called before poll_ready said it was ready")]
pub struct NotReady;

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::ready;

    use futures::{StreamExt, stream};
    use tower::ServiceExt;
    use tower::load::Constant;

    use super::*;

    type Endpoint = Constant<tower::util::BoxService<(), &'static str, BoxError>, u32>;

    fn endpoint(name: &'static str, load: u32) -> Endpoint {
        Constant::new(
            tower::util::BoxService::new(tower::service_fn(move |()| {
                ready(Ok::<_, BoxError>(name))
            })),
            load,
        )
    }

    #[tokio::test]
    async fn the_less_loaded_of_two_wins_and_changes_apply_in_place() {
        let changes: Vec<Result<Change<&str, Endpoint>, Infallible>> = vec![
            Ok(Change::Insert("a", endpoint("a", 5))),
            Ok(Change::Insert("b", endpoint("b", 1))),
        ];
        let mut p2c = P2c::new(stream::iter(changes).chain(stream::pending()));
        for _ in 0..20 {
            assert_eq!(
                p2c.ready()
                    .await
                    .expect("ready")
                    .call(())
                    .await
                    .expect("reply"),
                "b"
            );
        }

        let changes: Vec<Result<Change<&str, Endpoint>, Infallible>> = vec![
            Ok(Change::Insert("a", endpoint("a", 5))),
            Ok(Change::Insert("b", endpoint("b2", 9))),
            Ok(Change::Remove("a")),
        ];
        let mut p2c = P2c::new(stream::iter(changes).chain(stream::pending()));
        assert_eq!(
            p2c.ready()
                .await
                .expect("ready")
                .call(())
                .await
                .expect("reply"),
            "b2"
        );
        assert_eq!(
            p2c.endpoints.len(),
            1,
            "the Insert for b replaced it, the Remove dropped a"
        );
    }

    #[test]
    fn two_choices_take_the_lighter_ready_pick_and_fall_back_to_any_ready_one() {
        let rng = &mut SmallRng::seed_from_u64(7);
        // Two endpoints: both are always the picks, so the lighter one always wins.
        let mut two = [(true, 5), (true, 1)];
        for _ in 0..20 {
            assert_eq!(
                power_of_two_choices(rng, &mut two, |e| e.0, |e| e.1),
                Some(1)
            );
        }
        // Of many, only one ready: found whatever the picks were.
        let mut many = [(false, 0); 8];
        many[5].0 = true;
        for _ in 0..20 {
            assert_eq!(
                power_of_two_choices(rng, &mut many, |e| e.0, |e| e.1),
                Some(5)
            );
        }
        many[5].0 = false;
        assert_eq!(power_of_two_choices(rng, &mut many, |e| e.0, |e| e.1), None);
        assert_eq!(
            power_of_two_choices(rng, &mut [] as &mut [(bool, u8)], |e| e.0, |e| e.1),
            None
        );
    }

    #[tokio::test]
    async fn a_call_without_a_ready_choice_is_an_error_not_a_panic() {
        let mut p2c: P2c<_, &str, Endpoint> =
            P2c::new(stream::pending::<Result<Change<&str, Endpoint>, Infallible>>());
        let err = p2c.call(()).await.expect_err("nothing chosen");
        assert!(err.to_string().contains("before poll_ready"), "{err}");
    }
}
