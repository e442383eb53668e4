//! Asking one pod what it is, over a connection of the prober's own.

use std::time::Instant;

use discovery::Peer;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::config::MySqlConfig;
use crate::pools;
use crate::report::{Flavor, Replication, ServerReport};
use crate::topology::PodStatus;

/// `ER_UNKNOWN_SYSTEM_VARIABLE`: MariaDB's GTID variables on MySQL, or the reverse.
const UNKNOWN_VARIABLE: u16 = 1193;
/// `ER_PARSE_ERROR`: `SHOW REPLICA STATUS` on a server older than MariaDB 10.5 / MySQL 8.0.22.
const PARSE_ERROR: u16 = 1064;

/// The prober's connection to one pod, and what it learned of the server's flavor.
pub(crate) struct ProbeConn {
    conn: Conn,
    flavor: Option<Flavor>,
    legacy_status: bool,
}

impl ProbeConn {
    pub(crate) async fn connect(peer: &Peer, config: &MySqlConfig) -> crate::Result<Self> {
        let conn = pools::within(
            config.connect_timeout,
            peer,
            "connection",
            Conn::new(pools::opts(peer, config)),
        )
        .await?;
        Ok(Self {
            conn,
            flavor: None,
            legacy_status: false,
        })
    }

    /// Two round trips: the variables, then the replica status.
    pub(crate) async fn ask(&mut self) -> Result<ServerReport, mysql_async::Error> {
        let mut report = self.variables().await?;
        report.replication = self.replica_status().await?;
        Ok(report)
    }

    async fn variables(&mut self) -> Result<ServerReport, mysql_async::Error> {
        if self.flavor != Some(Flavor::MySql) {
            let row: Option<(u32, u8, String, Option<String>)> = match self
                .conn
                .query_first("SELECT @@server_id, @@read_only, @@version, @@gtid_current_pos")
                .await
            {
                Err(mysql_async::Error::Server(e)) if e.code == UNKNOWN_VARIABLE => None,
                other => other?,
            };
            if let Some((server_id, read_only, version, gtid)) = row {
                self.flavor = Some(Flavor::MariaDb);
                return Ok(ServerReport {
                    server_id,
                    flavor: Flavor::from_version(&version),
                    version,
                    read_only: read_only != 0,
                    super_read_only: None,
                    gtid_position: gtid.filter(|g| !g.is_empty()),
                    replication: None,
                });
            }
            self.flavor = Some(Flavor::MySql);
        }
        let (server_id, read_only, version, gtid, super_read_only): (
            u32,
            u8,
            String,
            Option<String>,
            u8,
        ) = self
            .conn
            .query_first(
                "SELECT @@server_id, @@read_only, @@version, @@gtid_executed, @@super_read_only",
            )
            .await?
            .ok_or_else(|| {
                mysql_async::Error::Other("the variables query returned no row".into())
            })?;
        Ok(ServerReport {
            server_id,
            version,
            flavor: Flavor::MySql,
            read_only: read_only != 0,
            super_read_only: Some(super_read_only != 0),
            gtid_position: gtid.map(|g| g.replace('\n', "")).filter(|g| !g.is_empty()),
            replication: None,
        })
    }

    async fn replica_status(&mut self) -> Result<Option<Replication>, mysql_async::Error> {
        if !self.legacy_status {
            match self.conn.query_first::<Row, _>("SHOW REPLICA STATUS").await {
                Ok(row) => return Ok(row.as_ref().map(Replication::from_row)),
                Err(mysql_async::Error::Server(e)) if e.code == PARSE_ERROR => {
                    self.legacy_status = true;
                }
                Err(e) => return Err(e),
            }
        }
        let row: Option<Row> = self.conn.query_first("SHOW SLAVE STATUS").await?;
        Ok(row.as_ref().map(Replication::from_row))
    }
}

/// Probes one pod within `timeout`, connecting first if `slot` holds no connection. A pod
/// that fails or does not answer is reported with the reason, and its connection dropped
/// so the next round reconnects.
pub(crate) async fn probe(
    slot: &mut Option<ProbeConn>,
    peer: &Peer,
    config: &MySqlConfig,
) -> PodStatus {
    let mut status = PodStatus {
        peer: peer.clone(),
        role: None,
        report: None,
        error: None,
        latency: None,
    };
    let timeout = config.probe_timeout;
    let asked = tokio::time::timeout(timeout, async {
        let conn = match slot {
            Some(conn) => conn,
            None => slot.insert(ProbeConn::connect(peer, config).await?),
        };
        let started = Instant::now();
        let report = conn.ask().await.map_err(|source| crate::Error::Pod {
            pod: peer.to_string(),
            source,
        })?;
        Ok::<_, crate::Error>((report, started.elapsed()))
    })
    .await;
    match asked {
        Ok(Ok((report, latency))) => {
            status.role = Some(report.role());
            status.report = Some(report);
            status.latency = Some(latency);
        }
        Ok(Err(e)) => {
            *slot = None;
            status.error = Some(e.to_string());
        }
        Err(_) => {
            *slot = None;
            status.error = Some(format!("{peer}: no answer to the probe within {timeout:?}"));
        }
    }
    status
}
