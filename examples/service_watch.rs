//! Watch a headless Service and print every change, with the DNS health.
//!
//! In a cluster (in-cluster defaults):
//!     cargo run -p discovery-examples --example service_watch -- --service _redis._tcp.redis
//! Against the demo's fake cluster (`discovery demo --keep` prints the address):
//!     cargo run -p discovery-examples --example service_watch -- \
//!         --service _echo._tcp.echo.demo --nameserver 127.0.0.1:PORT

use std::net::SocketAddr;

use clap::Parser;
use futures::StreamExt;
use headless_discovery::{Config, Discovery, PeerEvent, Source};

/// Watch a headless Service's pods.
#[derive(Debug, Parser)]
struct Args {
    /// The Service, e.g. `_redis._tcp.redis.cache` or `redis.cache:6379`.
    #[arg(long, default_value = "_redis._tcp.redis")]
    service: String,
    /// A DNS server to ask instead of the cluster's (default: $DISCOVERY_NAMESERVER).
    #[arg(long)]
    nameserver: Option<SocketAddr>,
    /// Where peers come from: `dns`, `kube` (the Service's EndpointSlices, through the
    /// Kubernetes API) or `auto` (the API, DNS when it cannot be used).
    #[arg(long, default_value = "dns")]
    source: Source,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    exit_after: Option<std::time::Duration>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let mut events = watch.subscribe();
    println!("source: {}", watch.source());
    println!(
        "{}: {} ready pods",
        watch.service(),
        events.snapshot().len()
    );
    for peer in events.snapshot() {
        println!("  {peer} ordinal={:?} fqdn={}", peer.ordinal(), peer.fqdn());
    }
    let mut health = watch.health_changes();
    let stop = async {
        match args.exit_after {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            Some(event) = events.next() => match event {
                PeerEvent::Added(p) => println!("+ {p}"),
                PeerEvent::Removed(p) => println!("- {p}"),
                PeerEvent::Changed { old, new } => println!("~ {} moved {} -> {}", new.hostname(), old.addr(), new.addr()),
                other => println!("? {other:?}"),
            },
            Ok(()) = health.changed() => println!("DNS {}", *health.borrow_and_update()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = &mut stop => return Ok(()),
        }
    }
}
