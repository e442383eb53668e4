//! [`Role`] and [`Report`]: what a pod says it is, in the engine's words.

use std::fmt;

use serde::Serialize;

use super::{Lag, Unfit};
use crate::Peer;

/// A pod's place in its StatefulSet's replication, whatever the store calls it.
///
/// Redis says `master`, MySQL `primary`; the engine says leader. Each store's report
/// keeps its own spelling beside this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Accepts writes: a Redis master, a MySQL primary.
    Leader,
    /// Follows a leader and serves reads: a Redis replica, a MySQL replica.
    Replica,
    /// Neither: takes no traffic (a fenced old primary, a Sentinel, a pod being set up).
    Other,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Replica => "replica",
            Role::Other => "neither leader nor replica",
        })
    }
}

/// What one pod answered its probe, as a store adapter parses it: the engine reads role,
/// upstream, fitness and lag from it, and keeps the whole report for users to see.
pub trait Report: fmt::Debug + Clone + Send + Sync + 'static {
    /// The role the pod reports.
    fn role(&self) -> Role;

    /// Whether the pod replicates from `leader`, by the address it was configured with.
    /// Announced names are only matched against discovered pods, never dialled.
    fn follows(&self, leader: &Peer) -> bool;

    /// Why the pod cannot serve, judged from its own report alone: a leader that is
    /// loading, a replica whose link or threads are down. `None` when nothing in the
    /// report rules it out; the engine adds what needs the rest of the topology (whom it
    /// follows, how far behind it is).
    fn unfit(&self) -> Option<Unfit> {
        None
    }

    /// How far behind its leader this replica (`me`) is. `leader` is the chosen leader's
    /// report and pod when this replica follows it. Stores whose replicas know their own
    /// lag read it from `self`; others compare offsets with the leader's.
    fn lag(&self, me: &Peer, leader: Option<(&Self, &Peer)>) -> Lag {
        let _ = (me, leader);
        Lag::default()
    }
}
