//! A fake Kubernetes cluster on loopback, for testing code that discovers StatefulSet pods.
//!
//! - [`Cluster`]: an in-process DNS server (hickory-server, UDP and TCP on `127.0.0.1`)
//!   that answers exactly as CoreDNS's `kubernetes` plugin does for headless Services:
//!   A/AAAA per ready pod, SRV per named port and for the bare Service with glue, PTR,
//!   NXDOMAIN when no pod is ready, SOA minimum = TTL. Faults on demand (SERVFAIL, no
//!   answer, slow answers) and a query counter.
//! - [`StatefulSet`]: scale, mark pods ready or not, replace a pod (same name, new IP).
//! - Pod addresses come from a loopback block claimed by this cluster alone
//!   ([`AddressPool`]), so tests run in parallel, and pods of one set share a port.
//! - [`echo`]: tiny servers that say which pod answered.
//! - `redis` (feature `redis`): a StatefulSet of real `redis-server` pods with replication,
//!   kill/restart/promote/switchover/freeze/rejoin helpers, passwords and TLS.
//! - `mysql` (feature `mysql`): a StatefulSet of real `mariadbd` pods with GTID
//!   replication, a least-privilege app user, promote/kill/restart/freeze/rejoin/delay
//!   helpers and TLS.
//! - `tls` (feature `tls`): a test CA issuing certificates for pod FQDNs.
//! - `api` (feature `api`): a Kubernetes API server serving the same StatefulSets'
//!   EndpointSlices (list, watch, 410, bookmarks, tokens, HTTPS), for kube-rs clients.
//! - [`measure`]: paired short windows for comparing a client path against its baseline
//!   on a small shared machine (what the benches use).
//!
//! # Examples
//!
//! ```
//! use headless_discovery_testkit::{Cluster, Fault, StatefulSetSpec};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::start().await?;
//! let web = cluster.statefulset(StatefulSetSpec::new("web").port("http", 8080).replicas(2))?;
//! // Point the code under test at `cluster.dns_addr()`, e.g. DISCOVERY_NAMESERVER.
//! assert_eq!(web.pods().len(), 2);
//! cluster.set_fault(Fault::ServFail);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod addr;
#[cfg(feature = "api")]
pub mod api;
mod cluster;
mod dns;
pub mod echo;
pub mod measure;
mod model;
#[cfg(feature = "mysql")]
pub mod mysql;
mod process;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "redis", feature = "mysql"))]
mod scripts;
#[cfg(any(feature = "redis", feature = "mysql"))]
mod servers;
mod statefulset;
#[cfg(feature = "tls")]
pub mod tls;

use std::sync::Once;

pub use addr::AddressPool;
#[cfg(feature = "api")]
pub use api::{ApiFault, ApiServer, ApiServerBuilder};
pub use cluster::{Cluster, ClusterBuilder, DEFAULT_TTL};
pub use dns::{Fault, ScriptedRecord, ScriptedReply};
pub use model::{IpFamily, Pod, ServicePort, StatefulSetSpec};
pub use process::{ServerProcess, signal};
#[cfg(any(feature = "redis", feature = "mysql"))]
pub use servers::{Server, ServerSet, ServerSpec};
pub use statefulset::StatefulSet;

/// DNS record types, for [`Cluster::queries_for`].
pub use hickory_server::proto::rr::RecordType;

/// What can go wrong setting up the fake cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The DNS server could not start.
    #[error("testkit DNS server: {0}")]
    Dns(String),
    /// No loopback addresses could be claimed.
    #[error("testkit addresses: {0}")]
    Addresses(String),
    /// A StatefulSet declaration or change makes no sense.
    #[error("testkit: {0}")]
    Spec(String),
    /// A server process (redis-server, mariadbd) could not be started or driven.
    #[error("testkit process: {0}")]
    Process(String),
    /// Test certificates could not be made.
    #[error("testkit TLS: {0}")]
    Tls(String),
    /// The API server could not start.
    #[error("testkit API server: {0}")]
    Api(String),
}

/// Installs a `tracing` subscriber for tests once per process, filtered by `RUST_LOG`
/// (default `warn`), writing through the test harness's capture.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
