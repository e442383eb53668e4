//! [`Answer`]: what a DNS server said, sorted by what it means.

use std::time::Duration;

use hickory_resolver::proto::rr::Record;

/// The three authoritative outcomes of a query; failures are errors instead.
#[derive(Debug)]
pub(crate) enum Answer {
    /// NOERROR with records of the asked type (only those), and the Additional section.
    Records {
        records: Vec<Record>,
        additionals: Vec<Record>,
        /// False when the answer did not fit in one DNS message even over TCP: some
        /// records (answers or glue) were left out, and the set must not be trusted whole.
        complete: bool,
    },
    /// NXDOMAIN: the name does not exist. For a headless Service: no ready pod.
    NxDomain { negative_ttl: Option<Duration> },
    /// NOERROR without records of this type: the name exists, the type does not.
    NoData { negative_ttl: Option<Duration> },
}

impl Answer {
    /// The smallest TTL among the records, or the negative TTL.
    pub(crate) fn ttl(&self) -> Option<Duration> {
        match self {
            Answer::Records { records, .. } => records
                .iter()
                .map(|r| Duration::from_secs(u64::from(r.ttl)))
                .min(),
            Answer::NxDomain { negative_ttl } | Answer::NoData { negative_ttl } => *negative_ttl,
        }
    }
}
