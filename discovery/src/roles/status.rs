//! [`PodStatus`] and [`Lag`]: one pod as the last probe round saw it.

use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeStruct;

use super::{Report, Role};
use crate::Peer;

/// How far a replica is behind its leader, in the measures its store reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Lag {
    /// Bytes of replication stream not yet processed (Redis offsets).
    pub bytes: Option<u64>,
    /// Time behind the leader (MySQL `Seconds_Behind_Source`; Redis: since the leader last
    /// heard from it). Whole seconds, as the servers report it.
    #[serde(serialize_with = "optional_secs", rename = "seconds")]
    pub time: Option<Duration>,
}

impl Lag {
    /// A lag in these measures.
    pub fn new(bytes: Option<u64>, time: Option<Duration>) -> Self {
        Self { bytes, time }
    }
}

/// One pod as the last probe round saw it: what it reported, or why it did not answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PodStatus<R> {
    /// The pod, from discovery.
    pub peer: Peer,
    /// What it reported, if it answered.
    pub report: Option<R>,
    /// Why it did not answer.
    pub error: Option<String>,
    /// Whether it rejects this client (see [`Verdict::Rejected`](super::Verdict::Rejected)): the probe failed on a
    /// certificate or on the credentials, not on the pod being away.
    pub rejected: bool,
    /// How long the probe took (its round trips and a little parsing).
    pub latency: Option<Duration>,
    /// How far behind the leader it is (replicas of the chosen leader only).
    pub lag: Lag,
}

impl<R: Report> PodStatus<R> {
    /// A pod that answered.
    pub fn answered(peer: Peer, report: R, latency: Duration) -> Self {
        Self {
            peer,
            report: Some(report),
            error: None,
            rejected: false,
            latency: Some(latency),
            lag: Lag::default(),
        }
    }

    /// A pod that did not answer, and why.
    pub fn unanswered(peer: Peer, error: impl Into<String>) -> Self {
        Self {
            peer,
            report: None,
            error: Some(error.into()),
            rejected: false,
            latency: None,
            lag: Lag::default(),
        }
    }

    /// A pod that rejects this client ([`Verdict::Rejected`](super::Verdict::Rejected)), and why.
    pub fn rejected(peer: Peer, error: impl Into<String>) -> Self {
        Self {
            rejected: true,
            ..Self::unanswered(peer, error)
        }
    }

    /// The reported role, if it answered.
    pub fn role(&self) -> Option<Role> {
        self.report.as_ref().map(Report::role)
    }

    /// Whether it answered its probe.
    pub fn is_up(&self) -> bool {
        self.report.is_some()
    }

    /// Whether it replicates from `leader`.
    pub fn follows(&self, leader: &Peer) -> bool {
        self.report.as_ref().is_some_and(|r| r.follows(leader))
    }
}

/// The topology JSON shape both stores share: the pod's identity, then what the engine
/// made of it, then the store's own report.
impl<R: Report + Serialize> Serialize for PodStatus<R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PodStatus", 12)?;
        s.serialize_field("ordinal", &self.peer.ordinal())?;
        s.serialize_field("hostname", self.peer.hostname())?;
        s.serialize_field("fqdn", self.peer.fqdn())?;
        s.serialize_field("ip", &self.peer.ip())?;
        s.serialize_field("port", &self.peer.port())?;
        s.serialize_field("role", &self.role())?;
        s.serialize_field("error", &self.error)?;
        s.serialize_field("rejected", &self.rejected)?;
        s.serialize_field("latency_us", &self.latency.map(micros))?;
        s.serialize_field("lag", &self.lag)?;
        s.serialize_field("report", &self.report)?;
        s.end()
    }
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn optional_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}
