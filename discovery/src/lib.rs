//! Discover the pods of a Kubernetes StatefulSet through its headless Service.
//!
//! A headless Service (`clusterIP: None`) publishes one DNS record per ready pod instead
//! of a load-balanced virtual IP. This crate turns those records into [`Peer`]s tagged
//! with their StatefulSet identity (ordinal, hostname, FQDN, IP, port), keeps them current
//! ([`Watch`]: refresh paced by TTL, jitter, backoff, last known good on DNS failure), and
//! feeds them to tower ([`balance::PeerDiscover`]) so that applications can talk to each
//! pod, or balance over them, as the StatefulSet scales, rolls and fails over.
//!
//! # Examples
//!
//! ```no_run
//! use headless_discovery::{Config, Discovery};
//!
//! # async fn run() -> Result<(), headless_discovery::Error> {
//! let discovery = Discovery::new(Config::default())?;
//!
//! // One-shot: every ready pod of `redis` in namespace `cache`, with its ordinal.
//! let peers = discovery.resolve("_redis._tcp.redis.cache").await?;
//! if let Some(first) = peers.by_ordinal(0) {
//!     println!("redis-0 is at {}", first.addr());
//! }
//!
//! // Live: a watch shared by every part of the app, with health and change events.
//! let watch = discovery.watch("_redis._tcp.redis.cache").await?;
//! println!("{} peers, DNS {}", watch.peers().len(), watch.health());
//! # Ok(()) }
//! ```
//!
//! Point it at a given DNS server with `DISCOVERY_NAMESERVER=ip:port` or
//! [`Config::nameserver`] (the testkit, local demos and minikube-from-the-host need it).
//!
//! With the `kube` feature, peers can come from the Service's EndpointSlices instead
//! ([`Source::Kube`], or [`Source::Auto`] with DNS as the fallback): changes in one watch
//! event rather than after a TTL and CoreDNS's cache, draining pods, zones and nodes.
//! See the `kube` module.
//!
//! With `publishNotReadyAddresses: true` on the Service, DNS lists pods that are not ready
//! too: health-check them (`PING`, `SELECT 1`) before routing to them.

#![forbid(unsafe_code)]

pub mod balance;
mod client;
mod config;
mod dns;
mod error;
#[cfg(feature = "kube")]
pub mod kube;
pub mod name;
pub mod peer;
mod resolve;
pub mod roles;
mod secret;
mod tls;
pub mod watch;

pub use client::{Discovery, IntoServiceName};
pub use config::{Config, NAMESERVER_ENV, Source};
pub use error::{
    ApiFailure, Contradiction, DnsFailure, Error, MAX_PODS, RBAC_RULE, Result, SharedError,
};
pub use name::{Environment, HeadlessService, InvalidName, PortSpec, ServiceName};
pub use peer::{Peer, PeerEvent, PeerKey, PeerSet};
pub use secret::Secret;
pub use tls::Tls;
pub use tower::discover::Change;
pub use watch::{Health, SourceInUse, SourceReason, Subscription, Watch};
