//! [`ConsistencyToken`]: what a replica must have applied for a read to see your writes.

use serde::{Deserialize, Serialize};

use crate::report::Flavor;

/// The GTID position of a write, taken on the primary right after it
/// ([`PodConnection::token`](crate::PodConnection::token)), for
/// [`MySqlRouter::replica_after`](crate::MySqlRouter::replica_after).
///
/// MariaDB: the session's `@@last_gtid` (`0-101-7`), waited for with `MASTER_GTID_WAIT`.
/// MySQL: `@@gtid_executed`, waited for with `WAIT_FOR_EXECUTED_GTID_SET`. It serializes,
/// so a web app can carry it in a cookie between a POST and the next GET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyToken {
    flavor: Flavor,
    gtid: String,
    /// The write's position could not be read (its connection broke after the commit):
    /// only the primary is sure to have it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    primary_only: bool,
}

impl ConsistencyToken {
    pub(crate) fn new(flavor: Flavor, gtid: String) -> Self {
        Self {
            flavor,
            gtid,
            primary_only: false,
        }
    }

    /// A token for a write whose position is unknown: reads with it go to the primary.
    pub(crate) fn primary_only(flavor: Flavor) -> Self {
        Self {
            flavor,
            gtid: String::new(),
            primary_only: true,
        }
    }

    /// Whether only the primary can serve a read with this token (the write's position
    /// could not be read after it was applied).
    pub fn is_primary_only(&self) -> bool {
        self.primary_only
    }

    /// The GTID (MariaDB) or GTID set (MySQL); empty when the session wrote nothing.
    pub fn gtid(&self) -> &str {
        &self.gtid
    }

    /// The server flavor it came from.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Whether there is nothing to wait for (the session wrote nothing).
    pub fn is_empty(&self) -> bool {
        self.gtid.is_empty() && !self.primary_only
    }

    /// The statement that waits up to `seconds` for a replica to apply this position,
    /// returning 0 once it has.
    pub(crate) fn wait_statement(&self, seconds: f64) -> String {
        let function = match self.flavor {
            Flavor::MariaDb => "MASTER_GTID_WAIT",
            Flavor::MySql => "WAIT_FOR_EXECUTED_GTID_SET",
        };
        format!("SELECT {function}(?, {seconds:.3})")
    }
}
