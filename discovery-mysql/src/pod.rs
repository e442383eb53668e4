//! [`PodConnection`]: a pooled connection to one pod, saying which.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use headless_discovery::Peer;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tower::load::peak_ewma::Handle;

use crate::error::{Error, Result};
use crate::report::Flavor;
use crate::token::ConsistencyToken;

/// `ER_UNKNOWN_SYSTEM_VARIABLE`: `@@last_gtid` on MySQL.
const UNKNOWN_VARIABLE: u16 = 1193;

/// A connection from one pod's pool. It dereferences to `mysql_async::Conn`, so every
/// `Queryable` method works on it; dropping it returns the connection to the pool.
///
/// A connection stays on its pod: a session (a transaction, session variables, prepared
/// statements) never moves between pods. Run statements on it with
/// [`MySqlRouter::run_on`](crate::MySqlRouter::run_on) for typed errors that are acted
/// on and that tell a lost connection that applied nothing
/// ([`Error::SessionLost`](crate::Error::SessionLost)) from an unknown outcome. Errors
/// from `Queryable` methods called on it directly are yours to hand to
/// [`MySqlRouter::observe`](crate::MySqlRouter::observe), so that a 1290 (the pod is no
/// longer primary) triggers a re-probe at once rather than at the next probe tick.
pub struct PodConnection {
    conn: Conn,
    peer: Peer,
    fallback: bool,
    /// When it was last handed out, written to or answered: how long it has sat idle,
    /// and so whether its server may have closed it unseen.
    used: Instant,
    /// The balancer's load measure for this pod: held while the connection is out, so a
    /// pod whose reads take longer gets fewer of them.
    _load: Option<Handle>,
}

impl std::fmt::Debug for PodConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodConnection")
            .field("pod", &self.peer)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl PodConnection {
    pub(crate) fn new(conn: Conn, peer: Peer) -> Self {
        Self {
            conn,
            peer,
            fallback: false,
            used: Instant::now(),
            _load: None,
        }
    }

    pub(crate) fn with_load(mut self, handle: Handle) -> Self {
        self._load = Some(handle);
        self
    }

    pub(crate) fn into_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }

    /// The pod it is connected to.
    pub fn pod(&self) -> &Peer {
        &self.peer
    }

    /// Whether a read meant for a replica came to the primary instead (no replica fit, or
    /// one could not catch up with a consistency token in time).
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// The position of this session's last write, for reading it back from a replica with
    /// [`MySqlRouter::replica_after`](crate::MySqlRouter::replica_after). Take it on the
    /// connection that wrote, after the commit. One round trip.
    ///
    /// # Errors
    ///
    /// [`Error::Pod`] if the query fails.
    pub async fn token(&mut self) -> Result<ConsistencyToken> {
        let mariadb: std::result::Result<Option<String>, _> =
            self.conn.query_first("SELECT @@last_gtid").await;
        let (flavor, gtid) = match mariadb {
            Ok(gtid) => (Flavor::MariaDb, gtid),
            Err(mysql_async::Error::Server(e)) if e.code == UNKNOWN_VARIABLE => {
                let gtid: Option<String> = self
                    .conn
                    .query_first("SELECT @@gtid_executed")
                    .await
                    .map_err(|source| self.error(source))?;
                (Flavor::MySql, gtid.map(|g| g.replace('\n', "")))
            }
            Err(source) => return Err(self.error(source)),
        };
        Ok(ConsistencyToken::new(flavor, gtid.unwrap_or_default()))
    }

    /// How long since it was last handed out or used.
    pub(crate) fn idle_for(&self) -> Duration {
        self.used.elapsed()
    }

    /// Marks it used now.
    pub(crate) fn touch(&mut self) {
        self.used = Instant::now();
    }

    /// The connection itself, leaving the pod's load measure behind.
    pub fn into_inner(self) -> Conn {
        self.conn
    }

    pub(crate) fn error(&self, source: mysql_async::Error) -> Error {
        Error::Pod {
            pod: self.peer.clone(),
            source,
        }
    }
}

impl Deref for PodConnection {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl DerefMut for PodConnection {
    /// Every `Queryable` method takes `&mut`: a use, even one made without the router.
    fn deref_mut(&mut self) -> &mut Conn {
        self.used = Instant::now();
        &mut self.conn
    }
}
