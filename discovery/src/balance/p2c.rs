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
use tower::discover::Change;
use tower::load::Load;
use tower::{BoxError, Service};

/// Power of two choices over endpoints kept in place: picks two at random and sends to
/// the less loaded (tower's [`Load`], e.g. PeakEwma) of those that are ready.
///
/// `Pending` while no endpoint is ready (the discovery stream and the endpoints polled
/// register the wake-ups), which [`WaitForPeers`](super::WaitForPeers) bounds. Made for
/// endpoints whose `poll_ready` stays `Pending` while they are unreachable rather than
/// failing: a failing endpoint is simply never chosen, and stays until discovery removes it.
pub struct P2c<D, K, S> {
    discover: D,
    endpoints: Vec<(K, S)>,
    chosen: Option<usize>,
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
        let n = self.endpoints.len();
        if n == 0 {
            return Poll::Pending;
        }
        let a = if n == 1 { 0 } else { rand::random_range(0..n) };
        let mut best = self.is_ready(a, cx).then_some(a);
        if n > 1 {
            let b = (a + 1 + rand::random_range(0..n - 1)) % n;
            if self.is_ready(b, cx) {
                best = match best {
                    // Loads are only read when there is a choice to make.
                    Some(a) if self.endpoints[a].1.load() <= self.endpoints[b].1.load() => Some(a),
                    _ => Some(b),
                };
            }
        }
        if best.is_none() {
            // Both picks busy or unreachable: any ready endpoint will do.
            best = (0..n).find(|&i| self.is_ready(i, cx));
        }
        match best {
            Some(index) => {
                self.chosen = Some(index);
                Poll::Ready(Ok(()))
            }
            None => Poll::Pending,
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        self.call_chosen(request)
    }
}

impl<D, K, S> P2c<D, K, S> {
    fn is_ready<Req>(&mut self, index: usize, cx: &mut Context<'_>) -> bool
    where
        S: Service<Req>,
    {
        matches!(self.endpoints[index].1.poll_ready(cx), Poll::Ready(Ok(())))
    }

    fn call_chosen<Req>(&mut self, request: Req) -> P2cFuture<S::Future, S::Response, S::Error>
    where
        S: Service<Req>,
        S::Error: Into<BoxError>,
    {
        // `poll_ready` chose an index, and nothing changed the endpoints since (that needs
        // `&mut self`, and every change clears the choice).
        match self
            .chosen
            .take()
            .and_then(|index| self.endpoints.get_mut(index))
        {
            Some((_, endpoint)) => Either::Left(
                endpoint
                    .call(request)
                    .map_err(Into::into as fn(S::Error) -> BoxError),
            ),
            None => Either::Right(ready(Err(Box::new(NotReady) as BoxError))),
        }
    }
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

    #[tokio::test]
    async fn a_call_without_a_ready_choice_is_an_error_not_a_panic() {
        let mut p2c: P2c<_, &str, Endpoint> =
            P2c::new(stream::pending::<Result<Change<&str, Endpoint>, Infallible>>());
        let err = p2c.call(()).await.expect_err("nothing chosen");
        assert!(err.to_string().contains("before poll_ready"), "{err}");
    }
}
