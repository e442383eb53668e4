//! Watching a Service: one background task, any number of subscribers.
//!
//! [`Discovery::watch`](crate::Discovery::watch) returns a [`Watch`]: the current
//! [`PeerSet`](crate::PeerSet), its [`Health`], and [`Subscription`]s that yield
//! [`PeerEvent`](crate::PeerEvent)s (added, removed, changed) as pods scale, roll and
//! turn unready.
//!
//! # Examples
//!
//! ```no_run
//! use headless_discovery::{Config, Discovery, PeerEvent};
//! use futures::StreamExt;
//!
//! # async fn run() -> Result<(), headless_discovery::Error> {
//! let discovery = Discovery::new(Config::default())?;
//! let watch = discovery.watch("_redis._tcp.redis.cache").await?;
//! let mut changes = watch.subscribe();
//! for peer in changes.snapshot() {
//!     println!("ready: {} at {}", peer.hostname(), peer.addr());
//! }
//! while let Some(event) = changes.next().await {
//!     match event {
//!         PeerEvent::Added(p) => println!("+ {p}"),
//!         PeerEvent::Removed(p) => println!("- {p}"),
//!         PeerEvent::Changed { old, new } => println!("~ {} moved {} -> {}", new.hostname(), old.addr(), new.addr()),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

mod handle;
mod health;
mod latest;
mod publish;
mod schedule;
mod source;
mod subscription;
mod task;

pub(crate) use handle::Inner as WatchInner;
pub use handle::Watch;
pub use health::Health;
pub(crate) use latest::Latest;
pub(crate) use publish::Publisher;
#[cfg(feature = "kube")]
pub(crate) use schedule::Schedule;
pub use source::{SourceInUse, SourceReason};
pub use subscription::Subscription;
pub(crate) use task::Refresher;
