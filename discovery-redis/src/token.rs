//! [`ConsistencyToken`]: where a write put the master's replication stream, for reading
//! it back from a replica.

use serde::{Deserialize, Serialize};

use crate::role::RoleReport;

/// The master's replication position right after a write: its replication id
/// (`master_replid`) and offset (`master_repl_offset`), read in the same round trip as
/// the write ([`LeaderConnection::query_with_token`](crate::LeaderConnection::query_with_token)).
/// A read with it ([`RedisRouter::replica_after`](crate::RedisRouter::replica_after))
/// goes to a replica whose offset under the same id has reached it, else to the master.
///
/// Offsets compare only under one replication id. After a failover the new master
/// starts a new id and keeps the old one as `master_replid2` up to
/// `second_repl_offset`, so a token taken before it still compares there. It
/// serializes, so a web app can carry it between a POST and the next GET.
///
/// ```
/// use headless_discovery_redis::ConsistencyToken;
///
/// let token: ConsistencyToken =
///     serde_json::from_str(r#"{"replid":"8e1c0a4b7d9f2e3a5b6c7d8e9f0a1b2c3d4e5f6a","offset":1234}"#)?;
/// assert_eq!(token.offset(), 1234);
/// assert!(!token.is_leader_only());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyToken {
    /// `None`: the position could not be read, so only the master is sure to have it.
    replid: Option<String>,
    offset: u64,
}

impl ConsistencyToken {
    pub(crate) fn new(replid: String, offset: u64) -> Self {
        Self {
            replid: Some(replid),
            offset,
        }
    }

    /// A token for a write whose position is unknown: reads with it go to the master.
    pub(crate) fn leader_only() -> Self {
        Self {
            replid: None,
            offset: 0,
        }
    }

    /// The replication id the offset counts in; `None` for a leader-only token.
    pub fn replid(&self) -> Option<&str> {
        self.replid.as_deref()
    }

    /// The master's replication offset right after the write.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether only the master can serve a read with it (the write's position could
    /// not be read).
    pub fn is_leader_only(&self) -> bool {
        self.replid.is_none()
    }

    /// Whether a server with `report`'s replication history, having processed `offset`,
    /// holds the write.
    pub(crate) fn reached(&self, report: &RoleReport, offset: u64) -> bool {
        let Some(replid) = self.replid.as_deref() else {
            return false;
        };
        if offset < self.offset {
            return false;
        }
        if report.replid.as_deref() == Some(replid) {
            return true;
        }
        // The history the server came from, shared below `second_repl_offset`.
        report.replid2.as_deref() == Some(replid)
            && report
                .second_repl_offset
                .is_some_and(|end| self.offset < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn replica(replid: &str, replid2: Option<&str>, second: Option<u64>) -> RoleReport {
        let info = format!(
            "role:slave\r\nmaster_replid:{replid}\r\nmaster_replid2:{}\r\nsecond_repl_offset:{}\r\n",
            replid2.unwrap_or("0000000000000000000000000000000000000000"),
            second.map_or("-1".to_owned(), |s| s.to_string()),
        );
        let report = RoleReport::from_info(&info).expect("a replica's INFO");
        assert_eq!(report.role, Role::Replica);
        report
    }

    #[test]
    fn offsets_compare_only_under_the_same_history() {
        let token = ConsistencyToken::new(A.to_owned(), 100);
        // (replica's history, its offset, holds the write)
        let table = [
            (replica(A, None, None), 100, true),
            (replica(A, None, None), 99, false),
            (replica(A, None, None), 5000, true),
            // Another history: its offsets say nothing about ours.
            (replica(B, None, None), 5000, false),
            // Promoted from A at 150: A's history below 150 is shared.
            (replica(B, Some(A), Some(150)), 160, true),
            // Promoted from A at 100: the write at 100 may be past what it kept.
            (replica(B, Some(A), Some(100)), 160, false),
            (replica(B, Some(A), None), 160, false),
        ];
        for (report, offset, holds) in table {
            assert_eq!(
                token.reached(&report, offset),
                holds,
                "{report:?} at {offset}"
            );
        }
        assert!(!ConsistencyToken::leader_only().reached(&replica(A, None, None), u64::MAX));
    }

    #[test]
    fn a_token_crosses_processes_as_json() {
        let token = ConsistencyToken::new(A.to_owned(), 42);
        let text = serde_json::to_string(&token).expect("serialize");
        assert_eq!(
            serde_json::from_str::<ConsistencyToken>(&text).expect("deserialize"),
            token
        );
        let leader_only = serde_json::to_string(&ConsistencyToken::leader_only()).expect("json");
        assert!(
            serde_json::from_str::<ConsistencyToken>(&leader_only)
                .expect("deserialize")
                .is_leader_only()
        );
    }
}
