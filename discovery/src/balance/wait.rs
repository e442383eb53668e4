//! [`WaitForPeers`]: bound how long a request waits for a ready endpoint.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{BoxError, Layer, Service};

use crate::roles::balance::WaitBound;
use crate::watch::{Health, Watch};

/// Wraps a balancer so that a request fails with [`NoReadyPeers`] after waiting `bound`
/// for a ready endpoint, instead of waiting forever.
///
/// tower's `Balance` answers `poll_ready` with `Pending` for as long as it has no ready
/// endpoint, so with zero ready pods every request would hang. This wrapper starts a
/// timer when the inner service first says `Pending`; when it fires, `poll_ready` returns
/// `Ready(Ok)` and the next `call` fails at once with [`NoReadyPeers`], which says whether
/// DNS lists no pod, DNS is failing, or the pods it lists are not ready. Like tower's
/// `LoadShed`, it fails the request, not the service, so it is safe behind a `Buffer`.
///
/// Adapters that balance over a subset of the pods (healthy replicas, say) give their
/// own explanation with [`WaitForPeers::with_explanation`].
pub struct WaitForPeers<S> {
    inner: S,
    explain: Explain,
    wait: WaitBound,
    shed: bool,
}

/// Builds the error a shed request fails with, when it fails.
type Explain = Arc<dyn Fn(Duration) -> BoxError + Send + Sync>;

impl<S: fmt::Debug> fmt::Debug for WaitForPeers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForPeers")
            .field("inner", &self.inner)
            .field("bound", &self.wait.bound())
            .finish_non_exhaustive()
    }
}

impl<S> WaitForPeers<S> {
    /// Wraps `inner` (a balancer over `watch`'s peers), waiting at most `bound` per request;
    /// a request that waited in vain fails with [`NoReadyPeers`].
    pub fn new(inner: S, watch: Watch, bound: Duration) -> Self {
        Self::with_explanation(inner, bound, move |bound| {
            Box::new(NoReadyPeers::from_watch(&watch, bound))
        })
    }

    /// Wraps `inner`, waiting at most `bound` per request; a request that waited in vain
    /// fails with the error `explain` builds (given the bound) at that moment.
    pub fn with_explanation(
        inner: S,
        bound: Duration,
        explain: impl Fn(Duration) -> BoxError + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            explain: Arc::new(explain),
            wait: WaitBound::new(bound),
            shed: false,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Clone> Clone for WaitForPeers<S> {
    /// A clone waits on its own: the timer of a pending request is not shared.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            explain: Arc::clone(&self.explain),
            wait: WaitBound::new(self.wait.bound()),
            shed: false,
        }
    }
}

impl<S, Req> Service<Req> for WaitForPeers<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = WaitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(result) => {
                self.wait.reset();
                self.shed = false;
                Poll::Ready(result.map_err(Into::into))
            }
            Poll::Pending => {
                futures::ready!(self.wait.poll_expired(cx));
                self.shed = true;
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        if std::mem::take(&mut self.shed) {
            return WaitFuture::failed((self.explain)(self.wait.bound()));
        }
        WaitFuture::inner(self.inner.call(request))
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`WaitForPeers`].
    #[derive(Debug)]
    pub struct WaitFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Inner { #[pin] future: F },
        Failed { error: Option<BoxError> },
    }
}

impl<F> WaitFuture<F> {
    fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    fn failed(error: BoxError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for WaitFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx).map_err(Into::into),
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "WaitFuture polled after completion".into()))),
        }
    }
}

/// No endpoint became ready within the bound: the request was not sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no ready peer for `{service}` within {bound:?}: {why}")]
pub struct NoReadyPeers {
    service: String,
    bound: Duration,
    known: usize,
    why: String,
}

impl NoReadyPeers {
    fn from_watch(watch: &Watch, bound: Duration) -> Self {
        let known = watch.peers().len();
        let health = watch.health();
        let source = health.source().unwrap_or(watch.source().source).describe();
        let why = match (health, known) {
            (Health::Degraded { error, .. }, _) => format!("{source} is failing ({error})"),
            (Health::Starting, _) => format!("the first answer from {source} has not come"),
            (_, 0) => format!("{source} lists no ready pod"),
            (_, n) => format!("{source} lists {n} pods but none of their services is ready"),
        };
        Self {
            service: watch.service().to_string(),
            bound,
            known,
            why,
        }
    }

    /// The Service, as written in the watch.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// How many pods DNS listed when the request gave up.
    pub fn known_peers(&self) -> usize {
        self.known
    }
}

/// A [`Layer`] that applies [`WaitForPeers`].
#[derive(Debug, Clone)]
pub struct WaitForPeersLayer {
    watch: Watch,
    bound: Duration,
}

impl WaitForPeersLayer {
    /// Requests wait at most `bound` for one of `watch`'s peers to be ready.
    pub fn new(watch: Watch, bound: Duration) -> Self {
        Self { watch, bound }
    }
}

impl<S> Layer<S> for WaitForPeersLayer {
    type Service = WaitForPeers<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WaitForPeers::new(inner, self.watch.clone(), self.bound)
    }
}

impl fmt::Display for WaitForPeersLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wait at most {:?} for a peer of {}",
            self.bound,
            self.watch.service()
        )
    }
}
