//! [`Probe`]: what a store adapter implements so that the engine can ask its pods.

use std::future::Future;

use super::Verdict;
use super::{Report, Topology};
use crate::{Peer, PeerSet};

/// How to ask one pod of a store what it is. The engine owns one connection per pod,
/// probes every pod at once each round within `probe_timeout`, reconnects a pod whose
/// probe failed, and turns the answers into a [`Topology`].
pub trait Probe: Send + Sync + 'static {
    /// What a pod answers.
    type Report: Report;
    /// The engine's connection to one pod.
    type Conn: Send + 'static;
    /// What connecting or asking can meet.
    type Error: std::fmt::Display + Send;

    /// The store's name in logs (`redis`, `mysql`).
    const STORE: &'static str;

    /// Opens a connection to `peer` for probes.
    fn connect(&self, peer: &Peer) -> impl Future<Output = Result<Self::Conn, Self::Error>> + Send;

    /// Asks `peer`, over `conn`, what it is.
    fn ask(
        &self,
        peer: &Peer,
        conn: &mut Self::Conn,
    ) -> impl Future<Output = Result<Self::Report, Self::Error>> + Send;

    /// What a failed probe's error says about the pod. [`Verdict::Rejected`] (a
    /// certificate that did not verify, credentials refused) marks the pod
    /// [rejected](super::PodStatus::rejected): when every pod rejects the client,
    /// [`RoleWatch::leader`](super::RoleWatch::leader) fails at once with
    /// [`RoleError::Rejected`](super::RoleError::Rejected) instead of waiting out
    /// `failover_wait` for a leader no probe can reach. Any other verdict counts as the
    /// pod being away. The default says [`Verdict::Broken`].
    fn verdict(&self, error: &Self::Error) -> Verdict {
        let _ = error;
        Verdict::Broken
    }

    /// `peer` did not answer within `probe_timeout`: its probe connection is dropped, and
    /// an adapter that shares connections with requests drops those too (whatever is
    /// queued on them is stale).
    fn timed_out(&self, peer: &Peer) {
        let _ = peer;
    }

    /// After each round, with the pods discovery lists and what they said: warm pools,
    /// forget pods that left.
    fn round_done(
        &self,
        peers: &PeerSet,
        topology: &Topology<Self::Report>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (peers, topology);
        async {}
    }
}
