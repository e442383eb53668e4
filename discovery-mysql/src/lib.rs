//! Route writes to the primary and lag-checked reads to the replicas of a MySQL or
//! MariaDB StatefulSet found by [`headless_discovery`], follow failovers, and read your writes.
//!
//! Every pod is asked `@@read_only` and its replica status when it joins, every second,
//! and at once when a statement meets error 1290 or a lost connection. The primary is the
//! pod that is writable and not replicating, never "pod 0"; writes follow it across
//! failovers. A statement is sent at most once to a pod that could apply it: what is
//! known not applied (refused with 1290/1836, or never sent because the dial failed)
//! waits up to `failover_wait` for a primary and goes there, and one whose connection
//! broke after it was sent fails as [`Error::OutcomeUnknown`], never resent. On a session
//! you hold ([`MySqlRouter::run_on`]), a lost connection that applied nothing (inside a
//! transaction, which the server rolls back, or found dead by a ping before the send) is
//! [`Error::SessionLost`]. Reads go to replicas whose threads run and whose lag is within
//! `max_lag`, balanced by power of two choices over PeakEwma, with a visible
//! fallback to the primary; a [`query`](MySqlRouter::query) whose `read_only` replica's
//! connection failed goes once to another pod. A [`ConsistencyToken`] taken after a write makes a replica
//! read wait (GTID) until it sees the write, or go to the primary.
//!
//! One `mysql_async::Pool` per pod, dialled by IP with the pod's FQDN as the TLS name.
//!
//! Roles are kept by the core's role engine ([`headless_discovery::roles`]); this crate is its
//! MySQL adapter: the `read_only` and replica status queries in both spellings, 1290 and
//! 1836 classification, GTID tokens and waits, pools and statements.
//!
//! # Examples
//!
//! ```no_run
//! use headless_discovery::{Config, Discovery};
//! use headless_discovery_mysql::{MySqlRouter, MySqlConfig, Statement};
//! use mysql_async::prelude::Queryable;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = Discovery::new(Config::default())?;
//! let config = MySqlConfig::new("app", "secret").database("shop");
//! let cluster = MySqlRouter::connect(&discovery, "_mysql._tcp.mysql.db", config).await?;
//!
//! // Write on the primary, and take the write's position.
//! let mut primary = cluster.primary().await?;
//! primary.exec_drop("INSERT INTO orders (item) VALUES (?)", ("book",)).await?;
//! let token = primary.token().await?;
//! drop(primary);
//!
//! // Read it back from a replica that has applied it (or from the primary).
//! let mut replica = cluster.replica_after(&token).await?;
//! let count: Option<u64> = replica.query_first("SELECT COUNT(*) FROM orders").await?;
//! println!("{count:?} orders, read on {}", replica.pod().hostname());
//!
//! // Or let the cluster run statements: a write waits through a failover, with no
//! // retry code of yours.
//! cluster.execute(Statement::new("DELETE FROM orders WHERE item = ?").with_params(("book",))).await?;
//!
//! for pod in &cluster.topology().pods {
//!     println!("{} {:?} lag={:?}", pod.peer.hostname(), pod.role(), pod.lag.time);
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod balancer;
mod classify;
mod config;
mod error;
mod pod;
mod pools;
mod probe;
mod report;
mod router;
pub mod service;
mod session;
mod statement;
mod token;
mod topology;

pub use config::{MySqlConfig, Secret, Tls};
pub use error::{Error, Result};
pub use headless_discovery::roles::{
    LeaderChoice, ReadPolicy, ResendPolicy, Resendable, RoleError, RoleOpts,
};
pub use pod::PodConnection;
pub use report::{Flavor, Replication, Role, ServerReport};
pub use router::MySqlRouter;
pub use statement::{Reply, Statement};
pub use token::ConsistencyToken;
pub use topology::{PodStatus, Topology};

/// The crates this one speaks through, re-exported so that an app uses the same versions.
pub use {headless_discovery, mysql_async};
