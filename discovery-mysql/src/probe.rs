//! Asking one pod what it is, over a connection of the prober's own.

use std::sync::Arc;

use headless_discovery::roles::{Probe, Verdict};
use headless_discovery::{Peer, PeerSet};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::config::MySqlConfig;
use crate::pools::{self, Pools};
use crate::report::{Flavor, Replication, ServerReport};
use crate::topology::Topology;

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

/// Asks each pod over a connection of the prober's own, apart from the pools so that
/// probes never queue behind application load.
#[derive(Debug)]
pub(crate) struct MySqlProbe {
    pub(crate) config: Arc<MySqlConfig>,
    pub(crate) pools: Pools,
}

impl Probe for MySqlProbe {
    type Report = ServerReport;
    type Conn = ProbeConn;
    type Error = crate::Error;
    const STORE: &'static str = "mysql";

    async fn connect(&self, peer: &Peer) -> crate::Result<ProbeConn> {
        ProbeConn::connect(peer, &self.config).await
    }

    async fn ask(&self, peer: &Peer, conn: &mut ProbeConn) -> crate::Result<ServerReport> {
        conn.ask().await.map_err(|source| crate::Error::Pod {
            pod: peer.clone(),
            source,
        })
    }

    /// Credentials, a host or a certificate the pod refuses are [`Verdict::Rejected`];
    /// anything else that failed is the pod being away.
    fn verdict(&self, error: &crate::Error) -> Verdict {
        match error {
            crate::Error::Pod { source, .. } => crate::classify::of(source),
            _ => Verdict::Broken,
        }
    }

    /// Pools follow discovery, and pods that answered get their minimum of connections.
    async fn round_done(&self, peers: &PeerSet, topology: &Topology) {
        self.pools.retain(peers);
        let answered: Vec<&Peer> = topology
            .pods
            .iter()
            .filter(|s| s.is_up())
            .map(|s| &s.peer)
            .collect();
        self.pools.warm(&answered).await;
    }
}
