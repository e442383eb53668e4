//! Route writes to the master and reads to the replicas of a Redis StatefulSet found by
//! [`discovery`], and follow failovers.
//!
//! Every pod is asked what it is (`ROLE`, `INFO replication`) when it joins, every second,
//! and at once when a command meets `READONLY` or a dropped connection. The master is the
//! pod that says so, never "pod 0"; writes follow it across failovers and a write refused
//! with `READONLY` (not applied) is retried once on the new master. Reads go where a
//! [`ReadFrom`] says, never to a replica that is down, loading, cut off or lagging.
//!
//! # Examples
//!
//! ```no_run
//! use discovery::{Config, Discovery};
//! use discovery_redis::{ReadFrom, RedisConfig, RedisRouter};
//! use redis::AsyncCommands;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = Discovery::new(Config::default())?;
//! let router = RedisRouter::connect(&discovery, "_redis._tcp.redis.cache", RedisConfig::default()).await?;
//!
//! let mut master = router.master().await?;
//! master.set::<_, _, ()>("greeting", "hello").await?;
//!
//! let mut replica = router.replica(&ReadFrom::ReplicaPreferred).await?;
//! let greeting: Option<String> = replica.get("greeting").await?;
//! println!("{greeting:?} from {}", replica.pod().hostname());
//!
//! for pod in &router.topology().pods {
//!     println!("{} {:?} lag={:?}", pod.peer.hostname(), pod.role(), pod.lag_bytes);
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod commands;
mod config;
mod connections;
mod error;
mod master;
mod pod;
mod probe;
mod prober;
mod read_from;
mod reply;
mod role;
mod router;
mod select;
pub mod service;
mod topology;

pub use commands::{CommandTable, READ_ONLY_COMMANDS};
pub use config::{RedisConfig, RedisTls, Secret};
pub use error::{Error, Result};
pub use master::MasterConnection;
pub use pod::PodConnection;
pub use read_from::ReadFrom;
pub use role::{AnnouncedReplica, Role, RoleReport};
pub use router::RedisRouter;
pub use topology::{MasterChoice, PodStatus, Topology};
