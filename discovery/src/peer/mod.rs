//! Peers: the ready pods behind a headless Service, each with its StatefulSet identity.
//!
//! A [`Peer`] is one pod: its ordinal (`redis-2` is 2), hostname, FQDN, IP and port.
//! A [`PeerSet`] is an immutable, sorted snapshot (ordinal, then name) that is cheap to
//! clone and share; [`PeerSet::diff`] turns two snapshots into [`PeerEvent`]s.
//!
//! # Examples
//!
//! ```
//! use headless_discovery::{Peer, PeerEvent, PeerSet};
//!
//! let old = PeerSet::new(vec![
//!     Peer::new("redis-0.redis.cache.svc.cluster.local", "10.0.0.7:6379".parse()?),
//!     Peer::new("redis-1.redis.cache.svc.cluster.local", "10.0.0.8:6379".parse()?),
//! ]);
//! let new = PeerSet::new(vec![
//!     Peer::new("redis-1.redis.cache.svc.cluster.local", "10.0.0.9:6379".parse()?),
//! ]);
//! assert_eq!(new.first().and_then(|p| p.ordinal()), Some(1));
//!
//! let events = old.diff(&new);
//! assert!(matches!(&events[0], PeerEvent::Removed(p) if p.hostname() == "redis-0"));
//! assert!(matches!(&events[1], PeerEvent::Changed { old, new } if old.ip() != new.ip()));
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

mod event;
mod ordinal;
mod set;
mod single;

pub use event::PeerEvent;
pub use set::PeerSet;
pub use single::{Peer, PeerKey};

pub(crate) use ordinal::dashed as dashed_ip;
#[cfg(feature = "kube")]
pub(crate) use ordinal::parse as parse_ordinal;
