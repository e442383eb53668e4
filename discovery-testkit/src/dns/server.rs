//! Binding the DNS server on UDP and TCP of the same loopback port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

use super::Handler;
use crate::Error;

const BIND_ATTEMPTS: usize = 32;

/// A running server; it stops when dropped.
pub(crate) struct DnsServer {
    addr: SocketAddr,
    server: Server<Handler>,
}

impl DnsServer {
    /// Listens on UDP and TCP of `listen`, or of `127.0.0.1:<ephemeral>` (one port for
    /// both, as resolvers expect).
    pub(crate) async fn start(handler: Handler, listen: Option<SocketAddr>) -> Result<Self, Error> {
        if let Some(addr) = listen {
            let udp = UdpSocket::bind(addr)
                .await
                .map_err(|e| Error::Dns(format!("binding UDP {addr}: {e}")))?;
            let tcp = TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Dns(format!("binding TCP {addr}: {e}")))?;
            let mut server = Server::new(handler);
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 1024);
            return Ok(Self { addr, server });
        }
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut last_error = None;
        for _ in 0..BIND_ATTEMPTS {
            let udp = UdpSocket::bind((ip, 0))
                .await
                .map_err(|e| Error::Dns(format!("binding UDP: {e}")))?;
            let addr = udp.local_addr().map_err(|e| Error::Dns(e.to_string()))?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => {
                    let mut server = Server::new(handler);
                    server.register_socket(udp);
                    server.register_listener(tcp, Duration::from_secs(5), 1024);
                    return Ok(Self { addr, server });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(Error::Dns(format!(
            "no port free on both UDP and TCP after {BIND_ATTEMPTS} tries: {last_error:?}"
        )))
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.server.shutdown_token().cancel();
    }
}
