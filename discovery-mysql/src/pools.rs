//! One `mysql_async::Pool` per pod, dialling the pod's IP; closed when the pod leaves or
//! moves.

use std::sync::Arc;
use std::time::Duration;

use headless_discovery::roles::PodMap;
use headless_discovery::{Peer, PeerSet};
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};

use crate::config::MySqlConfig;
use crate::error::{Error, Result};
use crate::pod::PodConnection;

/// Idle connections above `pool_min` close after this long.
const IDLE_TTL: Duration = Duration::from_secs(60);

/// The cluster's pools, shared by every clone of the handle.
#[derive(Clone, Debug)]
pub(crate) struct Pools {
    config: Arc<MySqlConfig>,
    open: Arc<PodMap<Pool>>,
}

impl Pools {
    pub(crate) fn new(config: Arc<MySqlConfig>) -> Self {
        Self {
            config,
            open: Arc::default(),
        }
    }

    /// The pod's pool (for its current address), made on first use.
    fn pool(&self, peer: &Peer) -> Pool {
        let (pool, replaced) = self
            .open
            .get_or_insert_with(peer, || Pool::new(pooled_opts(peer, &self.config)));
        if let Some(old) = replaced {
            close(old);
        }
        pool
    }

    /// A connection from the pod's pool, within `connect_timeout`. mysql_async checks an
    /// idle connection before handing it out (a non-blocking read: EOF means the server
    /// closed it) and dials anew if it is dead, so a statement is not written to a
    /// connection already known closed.
    pub(crate) async fn conn(&self, peer: &Peer) -> Result<PodConnection> {
        let pool = self.pool(peer);
        let conn = within(
            self.config.connect_timeout,
            peer,
            "connection",
            pool.get_conn(),
        )
        .await?;
        Ok(PodConnection::new(conn, peer.clone()))
    }

    /// Opens one connection in the pool of every pod that has none yet, so that the first
    /// read a pod serves does not pay (and the balancer does not count against the pod)
    /// the TCP handshake and login. Failures are left to the probes to report.
    pub(crate) async fn warm(&self, peers: &[&Peer]) {
        let cold = peers
            .iter()
            .copied()
            .filter(|peer| !self.open.contains(peer));
        futures::future::join_all(cold.map(|peer| async move {
            if let Err(error) = self.conn(peer).await {
                tracing::debug!(pod = %peer, %error, "could not warm the pool");
            }
        }))
        .await;
    }

    /// Closes the pools of pods that left discovery or moved.
    pub(crate) fn retain(&self, peers: &PeerSet) {
        self.open.retain(peers).into_iter().for_each(close);
    }
}

/// Disconnects a pool in the background: its connections close as they come back.
fn close(pool: Pool) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = pool.disconnect().await;
        });
    }
}

/// Awaits a driver future within `bound`, naming the pod in either error.
pub(crate) async fn within<T>(
    bound: Duration,
    peer: &Peer,
    what: &'static str,
    future: impl Future<Output = std::result::Result<T, mysql_async::Error>>,
) -> Result<T> {
    match tokio::time::timeout(bound, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(Error::Pod {
            pod: peer.clone(),
            source,
        }),
        Err(_) => Err(Error::Timeout {
            pod: peer.clone(),
            what,
            after: bound,
        }),
    }
}

/// Options for one pod: TCP to its IP (never DNS, never the Unix socket), the FQDN as the
/// TLS name, credentials, keepalive.
pub(crate) fn opts(peer: &Peer, config: &MySqlConfig) -> OptsBuilder {
    let mut opts = OptsBuilder::default()
        .ip_or_hostname(peer.fqdn())
        .resolved_ips(Some(vec![peer.ip()]))
        .tcp_port(peer.port())
        .prefer_socket(false)
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .user(Some(config.user.clone()))
        .pass(config.password.as_ref().map(|p| p.expose().to_owned()))
        .db_name(config.database.clone());
    if let Some(tls) = &config.tls {
        let mut ssl = SslOpts::default();
        // A CA of your own replaces the built-in roots: pods carry cluster certificates.
        let root = match (&tls.ca_pem, &tls.ca_file) {
            (Some(pem), _) => Some(pem.clone().into()),
            (None, Some(path)) => Some(path.clone().into()),
            (None, None) => None,
        };
        if let Some(root) = root {
            ssl = ssl
                .with_root_certs(vec![root])
                .with_disable_built_in_roots(true);
        }
        opts = opts.ssl_opts(ssl);
    }
    opts
}

fn pooled_opts(peer: &Peer, config: &MySqlConfig) -> Opts {
    let max = config.pool_max.max(1);
    let constraints = PoolConstraints::new(config.pool_min.min(max), max).unwrap_or_default();
    opts(peer, config)
        .pool_opts(
            PoolOpts::default()
                .with_constraints(constraints)
                .with_inactive_connection_ttl(IDLE_TTL),
        )
        .into()
}
