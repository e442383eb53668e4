//! Echo pods behind a balancer: a client per pod, servers on every pod, and a count of
//! which pod answered each request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use headless_discovery::Peer;
use headless_discovery_testkit::StatefulSet;
use headless_discovery_testkit::echo::{self, EchoServer};
use tower::{BoxError, Service, ServiceExt, service_fn};

/// How long one echo request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// A boxed echo client.
pub type EchoService = tower::util::BoxService<String, String, BoxError>;

/// One echo client per pod: a tower service sending a line to `peer.addr()`.
pub fn echo_client(peer: &Peer) -> EchoService {
    let addr = peer.addr();
    tower::util::BoxService::new(service_fn(move |line: String| async move {
        echo::request(addr, &line, REQUEST_TIMEOUT)
            .await
            .map_err(BoxError::from)
    }))
}

/// Echo servers on every pod's address and `port`, answering with the pod name.
///
/// # Panics
///
/// If a server cannot start.
pub async fn serve_pods(set: &StatefulSet, port: u16) -> HashMap<String, EchoServer> {
    let mut servers = HashMap::new();
    for pod in set.pods() {
        let server = EchoServer::start(SocketAddr::new(pod.ip, port), &pod.name)
            .await
            .expect("echo server");
        servers.insert(pod.name, server);
    }
    servers
}

/// Sends `n` requests and counts which pod answered each.
///
/// # Panics
///
/// If a request fails, or a reply is not the pod's echo of it.
pub async fn spread<S>(service: &mut S, n: usize) -> HashMap<String, usize>
where
    S: Service<String, Response = String, Error = BoxError>,
{
    let mut served = HashMap::new();
    for i in 0..n {
        let reply = service
            .ready()
            .await
            .expect("ready")
            .call(format!("req-{i}"))
            .await
            .expect("reply");
        let pod = reply.split(' ').next().unwrap_or_default().to_owned();
        assert_eq!(reply, format!("{pod} req-{i}"));
        *served.entry(pod).or_default() += 1;
    }
    served
}
