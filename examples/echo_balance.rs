//! Spread requests over the pods of an echo StatefulSet with a tower balancer fed by
//! discovery: power of two choices over PeakEwma, following scale-ups, scale-downs and
//! rolling updates, and failing with a clear error (not hanging) when no pod is ready.
//!
//! In a cluster (in-cluster defaults, `examples/k8s/echo.yaml`):
//!     echo_balance --service _echo._tcp.echo --count 20
//! Against the demo's fake cluster (`discovery demo --keep` prints the address):
//!     cargo run -p discovery-examples --example echo_balance -- \
//!         --service _echo._tcp.echo.demo --nameserver 127.0.0.1:PORT --count 20

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use headless_discovery::balance::{PeerDiscover, WaitForPeers};
use headless_discovery::{Config, Discovery, Peer, Source};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover};
use tower::{BoxError, Service, ServiceExt, service_fn};

/// Send lines to an echo StatefulSet through a balancer.
#[derive(Debug, Parser)]
struct Args {
    /// The echo headless Service (with its named port).
    #[arg(long, default_value = "_echo._tcp.echo")]
    service: String,
    /// A DNS server to ask instead of the cluster's (default: $DISCOVERY_NAMESERVER).
    #[arg(long)]
    nameserver: Option<SocketAddr>,
    /// Where peers come from: `dns`, `kube` (the Service's EndpointSlices, through the
    /// Kubernetes API) or `auto` (the API, DNS when it cannot be used).
    #[arg(long, default_value = "dns")]
    source: Source,
    /// How many requests (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Pause between requests.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    every: Duration,
}

/// One request: connect to the pod, send a line, read the answer.
async fn ask(peer: Peer, line: String) -> Result<String, BoxError> {
    let exchange = async {
        let mut stream = TcpStream::connect(peer.addr()).await?;
        stream.write_all(format!("{line}\n").as_bytes()).await?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).await?;
        Ok::<_, std::io::Error>(answer.trim_end().to_owned())
    };
    Ok(tokio::time::timeout(Duration::from_secs(2), exchange).await??)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter("headless_discovery=info")
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::default();
    config.nameserver = args.nameserver;
    config.source = args.source;
    let discovery = Discovery::new(config)?;
    let watch = discovery.watch(args.service.as_str()).await?;
    println!("source: {}", watch.source());
    println!("{}: {} ready pods", watch.service(), watch.peers().len());

    // One service per ready pod, weighed by PeakEwma, balanced by p2c, bounded wait.
    let discover = PeerDiscover::from_fn(&watch, |peer: &Peer| {
        let peer = peer.clone();
        service_fn(move |line: String| ask(peer.clone(), line))
    });
    // A new pod starts at the default estimate and is chosen once that has faded below
    // the measured pods' costs: a default near real round trips and a short decay let a
    // scale-up take traffic within a second or two.
    let discover = PeakEwmaDiscover::new::<String>(
        discover,
        Duration::from_millis(1),
        Duration::from_secs(1),
        CompleteOnResponse::default(),
    );
    let mut balancer = WaitForPeers::new(Balance::new(discover), watch, Duration::from_secs(5));

    let mut served: BTreeMap<String, u64> = BTreeMap::new();
    let mut n = 0u64;
    while args.count.is_none_or(|count| n < count) {
        n += 1;
        let reply = async { balancer.ready().await?.call(format!("request {n}")).await };
        match reply.await {
            Ok(answer) => {
                println!("{answer}");
                let pod = answer
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                *served.entry(pod).or_default() += 1;
            }
            Err(e) => println!("request {n} failed: {e}"),
        }
        tokio::time::sleep(args.every).await;
    }
    println!("served: {served:?}");
    Ok(())
}
