//! tower services: one per pod, the master, and reads balanced over healthy replicas, so
//! applications can stack tower layers (timeout, retry, concurrency limit) on them.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use headless_discovery_redis::RedisRouter;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn run(router: RedisRouter) -> Result<(), tower::BoxError> {
//! let mut reads = ServiceBuilder::new()
//!     .timeout(Duration::from_millis(200))
//!     .service(router.replica_service());
//! let mut get = redis::cmd("GET");
//! get.arg("user:42");
//! let value = reads.ready().await?.call(get).await?;
//! # let _ = value;
//! # Ok(()) }
//! ```

mod discover;
mod master;
mod pod;
mod replicas;

pub use discover::ReplicaDiscover;
pub use master::MasterService;
pub use pod::PodService;
pub use replicas::ReplicaService;
