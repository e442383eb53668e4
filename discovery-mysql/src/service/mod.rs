//! tower services: one per pod, the primary, and reads balanced over fit replicas, so
//! applications can stack tower layers (timeout, retry, concurrency limit) on them.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use headless_discovery_mysql::{MySqlRouter, Statement};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn run(cluster: MySqlRouter) -> Result<(), tower::BoxError> {
//! let mut reads = ServiceBuilder::new()
//!     .timeout(Duration::from_millis(200))
//!     .service(cluster.replica_service());
//! let reply = reads
//!     .ready()
//!     .await?
//!     .call(Statement::new("SELECT name FROM users WHERE id = ?").with_params((42,)))
//!     .await?;
//! println!("{} rows from {}", reply.rows.len(), reply.pod.hostname());
//! # Ok(()) }
//! ```

mod pod;
mod primary;
mod replicas;

pub use pod::PodService;
pub use primary::PrimaryService;
pub use replicas::ReplicaService;
