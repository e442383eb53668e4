//! Route writes to the master and reads to the replicas of a Redis StatefulSet found by
//! [`headless_discovery`], and follow failovers.
//!
//! Every pod is asked what it is (`ROLE`, `INFO replication`) when it joins, every second,
//! and at once when a command meets `READONLY` or a dropped connection. The master is the
//! pod that says so, never "pod 0"; writes follow it across failovers. A command is sent
//! at most once to a pod that could apply it: what is known not applied (`READONLY`,
//! `LOADING`, `MASTERDOWN`, a connection known dead before the command, a dial that
//! failed) waits up to `failover_wait` for a master and goes there, and one whose
//! connection broke after it was written fails as [`Error::OutcomeUnknown`], never
//! resent. Reads go where a
//! [`ReadPolicy`] says, never to a replica that is down, loading, cut off or lagging; a
//! read-only command routed there whose replica's connection failed goes once to another
//! pod.
//!
//! Roles are kept by the core's role engine ([`headless_discovery::roles`]); this crate is its
//! Redis adapter: `ROLE`/`INFO` parsing, `READONLY`/`MASTERDOWN`/`LOADING`
//! classification, the command table and redis-rs `ConnectionLike` types.
//!
//! # Examples
//!
//! ```no_run
//! use headless_discovery::{Config, Discovery};
//! use headless_discovery_redis::{RedisConfig, RedisRouter};
//! use redis::AsyncCommands;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = Discovery::new(Config::default())?;
//! let router = RedisRouter::connect(&discovery, "_redis._tcp.redis.cache", RedisConfig::default()).await?;
//!
//! let mut master = router.master().await?;
//! master.set::<_, _, ()>("greeting", "hello").await?;
//!
//! let mut replica = router.replica().await?; // ReplicaPreferred unless configured
//! let greeting: Option<String> = replica.get("greeting").await?;
//! println!("{greeting:?} from {}", replica.pod().hostname());
//!
//! for pod in &router.topology().pods {
//!     println!("{} {:?} lag={:?}", pod.peer.hostname(), pod.role(), pod.lag.bytes);
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod commands;
mod config;
mod connections;
mod error;
mod leader;
mod pod;
mod probe;
mod read_your_writes;
mod reply;
mod role;
mod router;
pub mod service;
mod socket;
mod tls;
mod token;
mod topology;

pub use commands::{CommandTable, READ_ONLY_COMMANDS};
pub use config::{RedisConfig, Secret, Tls};
pub use error::{Error, Result};
pub use headless_discovery::roles::{
    LeaderChoice, ReadPolicy, ResendPolicy, Resendable, RoleError, RoleOpts,
};
pub use leader::LeaderConnection;
pub use pod::PodConnection;
pub use role::{AnnouncedReplica, Role, RoleReport};

pub use router::RedisRouter;
pub use token::ConsistencyToken;
pub use topology::{PodStatus, Topology};
/// The crates this one speaks through, re-exported so that an app uses the same versions.
pub use {headless_discovery, redis};
