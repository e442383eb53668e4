//! Write counters on the Redis master, read them back from replicas, and keep going
//! through a failover, printing which pod served each call.
//!
//! In a cluster (in-cluster defaults):
//!     redis_master_replica --service _redis._tcp.redis
//! Against a testkit or the demo's cluster:
//!     cargo run -p discovery-examples --example redis_master_replica -- \
//!         --service _redis._tcp.redis --nameserver 127.0.0.1:PORT --count 50

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use headless_discovery::{Config, Discovery, Source};
use headless_discovery_redis::{ReadPolicy, RedisConfig, RedisRouter, Secret, Tls};
use redis::AsyncCommands;

/// Counters on the master, reads from replicas, through failovers.
#[derive(Debug, Parser)]
struct Args {
    /// The Redis headless Service (with its named port).
    #[arg(long, default_value = "_redis._tcp.redis")]
    service: String,
    /// A DNS server to ask instead of the cluster's (default: $DISCOVERY_NAMESERVER).
    #[arg(long)]
    nameserver: Option<SocketAddr>,
    /// Where peers come from: `dns`, `kube` (the Service's EndpointSlices, through the
    /// Kubernetes API) or `auto` (the API, DNS when it cannot be used).
    #[arg(long, default_value = "dns")]
    source: Source,
    /// Read the Redis password from this environment variable.
    #[arg(long)]
    password_env: Option<String>,
    /// Use TLS, trusting this CA (PEM).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Stop after this many rounds (default: run until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Pause between rounds.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    every: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("headless_discovery=info,headless_discovery_redis=info")
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::default();
    config.nameserver = args.nameserver;
    config.source = args.source;
    let discovery = Discovery::new(config)?;

    let mut redis = RedisConfig::default();
    if let Some(var) = &args.password_env {
        redis.password = Some(Secret::new(std::env::var(var)?));
    }
    redis.tls = args.tls_ca.clone().map(Tls::with_ca_file);
    let router = RedisRouter::connect(&discovery, args.service.as_str(), redis).await?;
    // The router shares the watch of its Service: this is the one it follows.
    println!(
        "source: {}",
        discovery.watch(args.service.as_str()).await?.source()
    );
    for pod in &router.topology().pods {
        println!(
            "{:<10} {:<22} {:?}",
            pod.peer.hostname(),
            pod.peer.addr().to_string(),
            pod.role()
        );
    }

    let mut round = 0u64;
    while args.count.is_none_or(|n| round < n) {
        round += 1;
        let write = async {
            // `query` rather than redis-rs's `AsyncCommands`: its errors are typed and name
            // the pod (`Error::Pod`, `Error::Roles`), where redis-rs's would be bare.
            let mut master = router.master().await?;
            let reply = master
                .query(redis::cmd("INCR").arg("example:counter"))
                .await?;
            let value: i64 = redis::from_redis_value(reply)?;
            Ok::<_, Box<dyn std::error::Error>>((master.pod().hostname().to_owned(), value))
        };
        match write.await {
            Ok((pod, value)) => print!("round {round}: INCR -> {value} on {pod}"),
            Err(e) => print!("round {round}: write failed ({e})"),
        }
        let read = async {
            let mut replica = router.read(&ReadPolicy::ReplicaPreferred).await?;
            let value: Option<i64> = replica.get("example:counter").await?;
            Ok::<_, Box<dyn std::error::Error>>((replica.pod().hostname().to_owned(), value))
        };
        match read.await {
            Ok((pod, value)) => println!("; GET -> {value:?} from {pod}"),
            Err(e) => println!("; read failed ({e})"),
        }
        tokio::time::sleep(args.every).await;
    }
    Ok(())
}
