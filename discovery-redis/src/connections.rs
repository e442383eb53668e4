//! One multiplexed connection per pod, made on first use and replaced when the pod moves.

use std::net::SocketAddr;
use std::sync::Arc;

use headless_discovery::Peer;
use headless_discovery::roles::PodMap;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo,
};

use crate::config::RedisConfig;
use crate::error::{Error, Result};

/// The router's connections, shared by every clone of it.
#[derive(Clone, Debug)]
pub(crate) struct Connections {
    config: Arc<RedisConfig>,
    open: Arc<PodMap<MultiplexedConnection>>,
}

impl Connections {
    pub(crate) fn new(config: Arc<RedisConfig>) -> Self {
        Self {
            config,
            open: Arc::default(),
        }
    }

    /// The pod's connection, connecting (by IP, never through DNS) if there is none for
    /// its current address.
    pub(crate) async fn get(&self, peer: &Peer) -> Result<MultiplexedConnection> {
        if let Some(conn) = self.open.get(peer) {
            return Ok(conn);
        }
        let conn = connect(peer, &self.config).await?;
        // A multiplexed connection closes when its last clone drops: a replaced one too.
        self.open.insert(peer, conn.clone());
        Ok(conn)
    }

    /// Forgets a pod's connection after it failed, so the next use reconnects.
    pub(crate) fn invalidate(&self, peer: &Peer) {
        self.open.invalidate(peer);
    }

    /// Closes the connections of pods that left discovery or moved.
    pub(crate) fn retain(&self, peers: &headless_discovery::PeerSet) {
        self.open.retain(peers);
    }
}

/// Connects to one pod with the configured credentials, timeouts and TLS. The socket
/// always goes to the pod's IP; with TLS the certificate must name the pod's FQDN.
pub(crate) async fn connect(peer: &Peer, config: &RedisConfig) -> Result<MultiplexedConnection> {
    let pod_error = |source| Error::Pod {
        pod: peer.clone(),
        source,
    };
    let mut settings = RedisConnectionInfo::default().set_db(config.db);
    if let Some(user) = &config.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password.expose());
    }
    let mut connection = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout));
    let client = match &config.tls {
        None => {
            let info = ConnectionAddr::Tcp(peer.ip().to_string(), peer.port())
                .into_connection_info()
                .map_err(pod_error)?
                .set_redis_settings(settings);
            Client::open(info).map_err(pod_error)?
        }
        Some(tls) => {
            let root_cert = tls.root_cert().map_err(|e| {
                pod_error(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "cannot read the TLS CA file",
                    e.to_string(),
                )))
            })?;
            let info = ConnectionAddr::TcpTls {
                host: peer.fqdn().to_owned(),
                port: peer.port(),
                insecure: false,
                tls_params: None,
            }
            .into_connection_info()
            .map_err(pod_error)?
            .set_redis_settings(settings);
            // The FQDN is for certificate checks only: the address comes from discovery.
            connection = connection.set_dns_resolver(PodAddress(peer.addr()));
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert,
            };
            Client::build_with_tls(info, certificates).map_err(pod_error)?
        }
    };
    client
        .get_multiplexed_async_connection_with_config(&connection)
        .await
        .map_err(pod_error)
}

/// Resolves every name to the one pod address discovery gave: redis-rs never asks DNS.
struct PodAddress(SocketAddr);

impl redis::io::AsyncDNSResolver for PodAddress {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        _host: &'b str,
        _port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        let addr = self.0;
        Box::pin(async move {
            Ok(Box::new(std::iter::once(addr)) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
