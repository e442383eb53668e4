//! What one server says about itself: engine, `read_only`, GTID position, replication.
//!
//! MariaDB and MySQL differ here, and both are handled:
//!
//! | | MariaDB 10.5+ | MySQL 8 |
//! |---|---|---|
//! | replica status | `SHOW REPLICA STATUS`, columns keep the `Slave_`/`Master_` names | `SHOW REPLICA STATUS` with `Replica_`/`Source_` names (8.0.22+) |
//! | `super_read_only` | does not exist | read with `read_only` |
//! | GTID position | `@@gtid_current_pos` | `@@gtid_executed` |
//!
//! Older servers without `SHOW REPLICA STATUS` get `SHOW SLAVE STATUS`. Columns are read
//! by name, accepting both spellings.

use std::time::Duration;

use headless_discovery::Peer;
use headless_discovery::roles::{self, Lag, Report, ThreadState, Unfit};
use mysql_async::Row;
use serde::{Deserialize, Serialize};

/// Which server this is; it decides the GTID queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Flavor {
    /// MariaDB (`@@version` contains `MariaDB`): `@@last_gtid`, `MASTER_GTID_WAIT`.
    MariaDb,
    /// MySQL: `@@gtid_executed`, `WAIT_FOR_EXECUTED_GTID_SET`.
    MySql,
}

impl Flavor {
    /// The flavor `@@version` names.
    pub fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        }
    }
}

/// What a pod does, as its answers say (never as its ordinal says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Writable and not replicating.
    Primary,
    /// Configured to replicate from another server (threads running or not).
    Replica,
    /// `read_only` and not replicating: a fenced old primary, or a pod being set up.
    /// Gets neither writes nor reads.
    Fenced,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
            Role::Fenced => "fenced",
        })
    }
}

/// One row of `SHOW REPLICA STATUS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Replication {
    /// The host it replicates from, as configured (`Master_Host`/`Source_Host`).
    pub source_host: Option<String>,
    /// The port.
    pub source_port: Option<u16>,
    /// `Slave_IO_Running`/`Replica_IO_Running`: `Yes`, `No` or `Connecting`.
    pub io_running: ThreadState,
    /// `Slave_SQL_Running`/`Replica_SQL_Running`.
    pub sql_running: ThreadState,
    /// `Seconds_Behind_Master`/`_Source`; `None` when the server says NULL.
    pub seconds_behind: Option<u64>,
    /// The last IO or SQL error, if any.
    pub last_error: Option<String>,
}

impl Replication {
    /// Reads a status row by column name, with either spelling.
    pub fn from_row(row: &Row) -> Self {
        let text = |names: &[&str]| -> Option<String> {
            names.iter().find_map(|name| {
                row.get_opt::<Option<String>, _>(*name)
                    .and_then(Result::ok)
                    .flatten()
            })
        };
        let last_error = [
            text(&["Last_IO_Error", "Last_IO_Error_Message"]),
            text(&["Last_SQL_Error", "Last_SQL_Error_Message"]),
        ]
        .into_iter()
        .flatten()
        .find(|e| !e.is_empty());
        Self {
            source_host: text(&["Source_Host", "Master_Host"]).filter(|h| !h.is_empty()),
            source_port: text(&["Source_Port", "Master_Port"]).and_then(|p| p.parse().ok()),
            io_running: ThreadState::parse(
                text(&["Replica_IO_Running", "Slave_IO_Running"]).as_deref(),
            ),
            sql_running: ThreadState::parse(
                text(&["Replica_SQL_Running", "Slave_SQL_Running"]).as_deref(),
            ),
            seconds_behind: text(&["Seconds_Behind_Source", "Seconds_Behind_Master"])
                .and_then(|s| s.parse().ok()),
            last_error,
        }
    }

    /// Whether both threads run.
    pub fn threads_running(&self) -> bool {
        self.io_running.is_running() && self.sql_running.is_running()
    }

    /// Whether it is configured to replicate at all: a row with both threads stopped and
    /// no source left is what `STOP REPLICA` on a promoted pod leaves behind.
    pub fn is_active(&self) -> bool {
        let running = |t: &ThreadState| !matches!(t, ThreadState::Stopped | ThreadState::Unknown);
        running(&self.io_running) || running(&self.sql_running)
    }
}

/// Everything one probe learned about a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerReport {
    /// `@@server_id`.
    pub server_id: u32,
    /// `@@version`.
    pub version: String,
    /// MariaDB or MySQL.
    pub flavor: Flavor,
    /// `@@read_only`.
    pub read_only: bool,
    /// `@@super_read_only` (MySQL only).
    pub super_read_only: Option<bool>,
    /// The executed GTID position: `@@gtid_current_pos` (MariaDB), `@@gtid_executed`
    /// (MySQL).
    pub gtid_position: Option<String>,
    /// Replication status, when it replicates (or did and was only stopped).
    pub replication: Option<Replication>,
}

impl ServerReport {
    /// Primary when writable and not replicating; replica when replicating; fenced when
    /// neither (read-only, not replicating).
    pub fn role(&self) -> Role {
        match &self.replication {
            Some(r) if r.is_active() => Role::Replica,
            _ if self.read_only || self.super_read_only == Some(true) => Role::Fenced,
            _ => Role::Primary,
        }
    }
}

impl Report for ServerReport {
    fn role(&self) -> roles::Role {
        match ServerReport::role(self) {
            Role::Primary => roles::Role::Leader,
            Role::Replica => roles::Role::Replica,
            Role::Fenced => roles::Role::Other,
        }
    }

    /// By the host its replication is configured with: IP, FQDN or short name.
    fn follows(&self, leader: &Peer) -> bool {
        self.replication
            .as_ref()
            .filter(|r| r.source_port.is_none_or(|p| p == leader.port()))
            .and_then(|r| r.source_host.as_deref())
            .is_some_and(|host| leader.is_named(host))
    }

    fn unfit(&self) -> Option<Unfit> {
        let replication = self.replication.as_ref()?;
        if ServerReport::role(self) != Role::Replica {
            return None;
        }
        if !replication.threads_running() {
            return Some(Unfit::NotReplicating {
                io: replication.io_running.clone(),
                sql: replication.sql_running.clone(),
                last_error: replication.last_error.clone(),
            });
        }
        replication
            .seconds_behind
            .is_none()
            .then_some(Unfit::LagUnknown)
    }

    /// `Seconds_Behind_Source`, as the replica itself reports it.
    fn lag(&self, _me: &Peer, _leader: Option<(&Self, &Peer)>) -> Lag {
        let seconds = self.replication.as_ref().and_then(|r| r.seconds_behind);
        Lag::new(None, seconds.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(read_only: bool, io: Option<&str>, sql: Option<&str>) -> ServerReport {
        ServerReport {
            server_id: 1,
            version: "10.11.19-MariaDB-log".to_owned(),
            flavor: Flavor::MariaDb,
            read_only,
            super_read_only: None,
            gtid_position: None,
            replication: io.map(|io| Replication {
                source_host: Some("10.0.0.1".to_owned()),
                source_port: Some(3306),
                io_running: ThreadState::parse(Some(io)),
                sql_running: ThreadState::parse(sql),
                seconds_behind: None,
                last_error: None,
            }),
        }
    }

    #[test]
    fn roles_come_from_read_only_and_replication_not_from_names() {
        assert_eq!(report(false, None, None).role(), Role::Primary);
        assert_eq!(report(true, Some("Yes"), Some("Yes")).role(), Role::Replica);
        assert_eq!(
            report(true, Some("Connecting"), Some("Yes")).role(),
            Role::Replica,
            "a replica whose primary is away still replicates"
        );
        assert_eq!(
            report(false, Some("Yes"), Some("No")).role(),
            Role::Replica,
            "a writable replica is still a replica"
        );
        assert_eq!(
            report(false, Some("No"), Some("No")).role(),
            Role::Primary,
            "STOP REPLICA without RESET leaves a stopped row"
        );
        assert_eq!(report(true, None, None).role(), Role::Fenced);
    }

    #[test]
    fn flavors_from_versions() {
        assert_eq!(
            Flavor::from_version("10.11.19-MariaDB-0+deb12u1-log"),
            Flavor::MariaDb
        );
        assert_eq!(Flavor::from_version("8.4.3"), Flavor::MySql);
    }

    /// Column names a status row can carry, in both spellings, and some it never does.
    const COLUMNS: [&str; 16] = [
        "Source_Host",
        "Master_Host",
        "Source_Port",
        "Master_Port",
        "Replica_IO_Running",
        "Slave_IO_Running",
        "Replica_SQL_Running",
        "Slave_SQL_Running",
        "Seconds_Behind_Source",
        "Seconds_Behind_Master",
        "Last_IO_Error",
        "Last_SQL_Error",
        "Last_IO_Error_Message",
        "Last_SQL_Error_Message",
        "Gtid_IO_Pos",
        "Unknown_Column",
    ];

    fn cell() -> impl proptest::strategy::Strategy<Value = mysql_async::Value> {
        use mysql_async::Value;
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::NULL),
            prop::sample::select(vec![
                "Yes",
                "No",
                "Connecting",
                "",
                "3306",
                "-1",
                "18446744073709551616",
                "10.0.0.1"
            ])
            .prop_map(|s| Value::Bytes(s.as_bytes().to_vec())),
            prop::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<f64>().prop_map(Value::Double),
        ]
    }

    proptest::proptest! {
        /// Any SHOW REPLICA STATUS row (columns in any order, repeated, missing, cells of
        /// any type) is read without panicking, the same way every time.
        #[test]
        fn status_rows_never_panic(
            cells in proptest::collection::vec((proptest::sample::select(COLUMNS.to_vec()), cell()), 0..20),
        ) {
            use mysql_async::consts::ColumnType;
            use mysql_common::packets::Column;
            let columns: std::sync::Arc<[Column]> = cells
                .iter()
                .map(|(name, _)| Column::new(ColumnType::MYSQL_TYPE_VAR_STRING).with_name(name.as_bytes()))
                .collect();
            let values = cells.into_iter().map(|(_, v)| v).collect();
            let row = mysql_common::row::new_row(values, columns);
            let first = Replication::from_row(&row);
            proptest::prop_assert_eq!(&first, &Replication::from_row(&row));
            let _ = (first.threads_running(), first.is_active());
        }
    }
}
