//! tower integration: a watch as a `Discover` stream and a bound on waiting for peers.
//!
//! [`PeerDiscover`] turns a [`Watch`](crate::Watch) into the `Discover` stream tower's
//! `p2c::Balance` takes, making one service per ready pod. Wrap the discover in a load
//! measure (`PeakEwmaDiscover`, `PendingRequestsDiscover`), the balancer in
//! [`WaitForPeers`], and requests spread over the pods, follow scale-ups, scale-downs and
//! rolling updates, and fail with [`NoReadyPeers`] instead of hanging when no pod is ready.
//! Adapters of stateful stores build on [`roles::balance`](crate::roles::balance) instead.
//!
//! Target a *specific* pod (a Redis master, a MySQL primary) from the
//! [`PeerSet`](crate::PeerSet) instead: p2c picks at random, by design.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use headless_discovery::balance::{PeerDiscover, WaitForPeers};
//! use headless_discovery::{Config, Discovery, Peer};
//! use tower::balance::p2c::Balance;
//! use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
//! use tower::{BoxError, Service, ServiceExt, service_fn};
//!
//! # async fn run() -> Result<(), BoxError> {
//! let discovery = Discovery::new(Config::default())?;
//! let watch = discovery.watch("_http._tcp.web.shop").await?;
//!
//! // One service per pod; a real one would hold a connection pool to `peer.addr()`.
//! let discover = PeerDiscover::from_fn(&watch, |peer: &Peer| {
//!     let peer = peer.clone();
//!     service_fn(move |path: String| {
//!         let peer = peer.clone();
//!         async move { Ok::<_, BoxError>(format!("GET {path} from {}", peer.hostname())) }
//!     })
//! });
//! let discover = PendingRequestsDiscover::new::<String>(discover, CompleteOnResponse::default());
//! let balancer = Balance::new(Box::pin(discover));
//! let mut service = WaitForPeers::new(balancer, watch, Duration::from_secs(2));
//!
//! let reply = service.ready().await?.call("/".to_owned()).await?;
//! println!("{reply}");
//! # Ok(()) }
//! ```

mod discover;
mod wait;

pub use discover::{MakeFn, PeerDiscover};
pub use wait::{NoReadyPeers, WaitForPeers, WaitForPeersLayer, WaitFuture};
