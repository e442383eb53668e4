//! The role engine every stateful store adapter shares: which pod leads, which replicas
//! may serve reads, and how to wait through a failover.
//!
//! A store implements two traits. [`Probe`] connects to one pod and asks it what it is;
//! [`Report`] reads role, upstream, fitness and lag from the answer. [`RoleWatch`] does
//! the rest: probe rounds (a jittered timer, discovery changes,
//! refusals), the leader choice (one leader, none, or a split brain settled by
//! whom the followers follow), logging of role changes and failovers with their
//! durations, waiting up to `failover_wait` for a leader, sending again what was never
//! applied ([`Resend`], and [`ResendPolicy`] for tower), and read placement by one [`ReadPolicy`] with fallbacks visible and
//! reasons as data ([`Unfit`]).
//!
//! # Examples
//!
//! A third store in a few lines: pods that answer `ROLE\n` with `leader` or
//! `replica <host>`.
//!
//! ```no_run
//! use headless_discovery::roles::{Probe, ReadPolicy, Report, Role, RoleOpts, RoleWatch, Target};
//! use headless_discovery::{Config, Discovery, Peer};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//! use tokio::net::TcpStream;
//!
//! #[derive(Debug, Clone)]
//! struct LineReport {
//!     leader: bool,
//!     upstream: Option<String>,
//! }
//!
//! impl Report for LineReport {
//!     fn role(&self) -> Role {
//!         if self.leader { Role::Leader } else { Role::Replica }
//!     }
//!     fn follows(&self, leader: &Peer) -> bool {
//!         self.upstream.as_deref().is_some_and(|host| leader.is_named(host))
//!     }
//! }
//!
//! struct LineProbe;
//!
//! impl Probe for LineProbe {
//!     type Report = LineReport;
//!     type Conn = BufReader<TcpStream>;
//!     type Error = std::io::Error;
//!     const STORE: &'static str = "line";
//!
//!     async fn connect(&self, peer: &Peer) -> std::io::Result<Self::Conn> {
//!         Ok(BufReader::new(TcpStream::connect(peer.addr()).await?))
//!     }
//!
//!     async fn ask(&self, _peer: &Peer, conn: &mut Self::Conn) -> std::io::Result<LineReport> {
//!         conn.get_mut().write_all(b"ROLE\n").await?;
//!         let mut line = String::new();
//!         conn.read_line(&mut line).await?;
//!         let mut words = line.split_whitespace();
//!         Ok(LineReport {
//!             leader: words.next() == Some("leader"),
//!             upstream: words.next().map(str::to_owned),
//!         })
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = Discovery::new(Config::default())?;
//! let watch = discovery.watch("_line._tcp.store.default").await?;
//! let roles = RoleWatch::start(watch, LineProbe, RoleOpts::default()).await;
//!
//! let leader = roles.leader().await?; // waits through a failover, up to failover_wait
//! println!("writes go to {leader}");
//! let topology = roles.topology();
//! let read = roles.place(&topology, &ReadPolicy::Replica)?;
//! if let Target::Replicas(replicas) = read.target {
//!     println!("{} replicas can serve reads", replicas.len());
//! }
//! # Ok(()) }
//! ```

pub mod balance;
mod changes;
mod error;
mod handle;
mod opts;
mod pods;
mod policy;
mod probe;
mod prober;
mod resend;
mod role;
mod rounds;
mod select;
mod status;
mod topology;
mod unfit;
mod verdict;

pub use error::RoleError;
pub use handle::RoleWatch;
pub use opts::RoleOpts;
pub use pods::PodMap;
pub use policy::{NODE_ENV, NoLocality, ReadPolicy, ZONE_ENV};
pub use probe::Probe;
pub use resend::{Resend, ResendPolicy, Resendable};
pub use role::{Report, Role};
pub use select::{Read, Reasons, Target, any_of};
pub use status::{Lag, PodStatus};
pub use topology::{LeaderChoice, Topology, choose_leader};
pub use unfit::{ThreadState, Unfit};
pub use verdict::Verdict;

#[cfg(test)]
mod tests;
