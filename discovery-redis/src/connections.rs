//! One multiplexed connection per pod, made on first use and replaced when the pod moves
//! or its socket is known dead.

use std::sync::Arc;

use headless_discovery::Peer;
use headless_discovery::roles::PodMap;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, RedisConnectionInfo, RedisError};
use tokio::net::TcpStream;

use crate::config::RedisConfig;
use crate::error::{Error, Result};
use crate::socket::{SocketState, Watched};

/// A pod's multiplexed connection and what its socket says. Cheap to clone: clones share
/// the connection, which closes when the last one drops.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) conn: MultiplexedConnection,
    socket: Arc<SocketState>,
}

impl Connection {
    /// Whether the socket met EOF, a reset or a failed write: a request handed over now
    /// would not be sent.
    pub(crate) fn is_closed(&self) -> bool {
        self.socket.is_closed()
    }

    /// Bytes written to the socket so far (see [`SocketState::written`]).
    pub(crate) fn written(&self) -> u64 {
        self.socket.written()
    }

    /// Whether a request handed over when [`written`](Self::written) was `before`, and
    /// failed, never left the process: the socket is dead and not a byte went out since.
    pub(crate) fn never_sent(&self, before: u64) -> bool {
        self.is_closed() && self.written() == before
    }
}

/// The router's connections, shared by every clone of it.
#[derive(Clone, Debug)]
pub(crate) struct Connections {
    config: Arc<RedisConfig>,
    open: Arc<PodMap<Connection>>,
}

impl Connections {
    pub(crate) fn new(config: Arc<RedisConfig>) -> Self {
        Self {
            config,
            open: Arc::default(),
        }
    }

    /// The pod's connection, connecting (by IP, never through DNS) if there is none for
    /// its current address or its socket is known dead.
    pub(crate) async fn get(&self, peer: &Peer) -> Result<Connection> {
        if let Some(conn) = self.open.get(peer).filter(|c| !c.is_closed()) {
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

/// Connects to one pod with the configured credentials, timeouts and TLS, within
/// `connect_timeout`. The socket always goes to the pod's IP; with TLS the certificate
/// must name the pod's FQDN.
pub(crate) async fn connect(peer: &Peer, config: &RedisConfig) -> Result<Connection> {
    let pod_error = |source| Error::Pod {
        pod: peer.clone(),
        source,
    };
    match tokio::time::timeout(config.connect_timeout, dial(peer, config)).await {
        Ok(result) => result.map_err(pod_error),
        Err(_elapsed) => Err(pod_error(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )))),
    }
}

async fn dial(peer: &Peer, config: &RedisConfig) -> redis::RedisResult<Connection> {
    let mut settings = RedisConnectionInfo::default()
        .set_db(config.db)
        .set_protocol(ProtocolVersion::RESP2);
    if let Some(user) = &config.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password.expose());
    }
    let options = AsyncConnectionConfig::new().set_response_timeout(Some(config.response_timeout));
    let tcp = TcpStream::connect(peer.addr()).await?;
    tcp.set_nodelay(true)?;
    let socket = Arc::new(SocketState::default());
    let (conn, driver) = match &config.tls {
        None => {
            let stream = Watched::new(tcp, Arc::clone(&socket));
            let (conn, driver) =
                MultiplexedConnection::new_with_config(&settings, stream, options).await?;
            (conn, tokio::spawn(driver))
        }
        Some(tls) => {
            let stream = crate::tls::handshake(tcp, peer, tls).await?;
            let stream = Watched::new(stream, Arc::clone(&socket));
            let (conn, driver) =
                MultiplexedConnection::new_with_config(&settings, stream, options).await?;
            (conn, tokio::spawn(driver))
        }
    };
    // The driver ends by itself when the last clone of `conn` drops.
    drop(driver);
    Ok(Connection { conn, socket })
}

/// A client-side error in redis-rs's terms.
pub(crate) fn client_error(what: &'static str, detail: String) -> RedisError {
    RedisError::from((redis::ErrorKind::InvalidClientConfig, what, detail))
}
