//! TLS to one pod over a socket the SDK made: the pod's FQDN is the name checked against
//! its certificate, the CA is the configured one (else the system's roots).

use std::sync::Arc;

use headless_discovery::{Peer, Tls};
use redis::RedisResult;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::connections::client_error;

/// Runs the TLS handshake on `tcp`, verifying the pod's certificate for its FQDN.
pub(crate) async fn handshake(
    tcp: TcpStream,
    peer: &Peer,
    tls: &Tls,
) -> RedisResult<TlsStream<TcpStream>> {
    let config = client_config(tls)?;
    let name = ServerName::try_from(peer.fqdn().to_owned())
        .map_err(|e| client_error("the pod's FQDN is not a TLS name", e.to_string()))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(handshake_error)
}

/// rustls reports its own errors (a certificate that did not verify, a peer that does not
/// speak TLS) inside an `io::Error`: lifted out, they are not taken for a pod away, and
/// stay reachable as a `rustls::Error`.
pub(crate) fn handshake_error(error: std::io::Error) -> redis::RedisError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(refused) => redis::RedisError::from(refused.clone()),
        None => redis::RedisError::from(error),
    }
}

fn client_config(tls: &Tls) -> RedisResult<ClientConfig> {
    let pem = tls
        .root_cert()
        .map_err(|e| client_error("cannot read the TLS CA file", e.to_string()))?;
    let mut roots = RootCertStore::empty();
    match pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| client_error("the TLS CA is not PEM", e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| client_error("the TLS CA is not a CA", e.to_string()))?;
            }
        }
        None => {
            // A certificate the system cannot parse is skipped, as redis-rs does.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| client_error("no TLS version in common", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
