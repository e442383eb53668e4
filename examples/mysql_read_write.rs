//! Write rows on the MySQL/MariaDB primary, read them back from replicas with
//! read-your-writes, and keep going through a failover, printing which pod served each
//! call.
//!
//! In a cluster (in-cluster defaults):
//!     mysql_read_write --service _mysql._tcp.mysql --password-env MYSQL_PASSWORD
//! Against a testkit or the demo's cluster:
//!     cargo run -p discovery-examples --example mysql_read_write -- \
//!         --service _mysql._tcp.mysql --nameserver 127.0.0.1:PORT --count 50

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use headless_discovery::{Config, Discovery, Source};
use headless_discovery_mysql::{MySqlConfig, MySqlRouter, PodConnection, Statement, Tls};
use mysql_async::prelude::Queryable;

/// Rows on the primary, reads from replicas that have them, through failovers.
#[derive(Debug, Parser)]
struct Args {
    /// The MySQL headless Service (with its named port).
    #[arg(long, default_value = "_mysql._tcp.mysql")]
    service: String,
    /// A DNS server to ask instead of the cluster's (default: $DISCOVERY_NAMESERVER).
    #[arg(long)]
    nameserver: Option<SocketAddr>,
    /// Where peers come from: `dns`, `kube` (the Service's EndpointSlices, through the
    /// Kubernetes API) or `auto` (the API, DNS when it cannot be used).
    #[arg(long, default_value = "dns")]
    source: Source,
    /// The application user (no SUPER/ALL: those write through read_only).
    #[arg(long, default_value = "app")]
    user: String,
    /// Read the password from this environment variable.
    #[arg(long, default_value = "MYSQL_PASSWORD")]
    password_env: String,
    /// The database.
    #[arg(long, default_value = "app")]
    database: String,
    /// Use TLS, trusting this CA (PEM); pods are verified by FQDN.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Stop after this many rounds (default: run until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Pause between rounds.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    every: Duration,
}

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter("headless_discovery=info,headless_discovery_mysql=info")
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::default();
    config.nameserver = args.nameserver;
    config.source = args.source;
    let discovery = Discovery::new(config)?;

    let password = std::env::var(&args.password_env).map_err(|_| {
        format!(
            "set ${} to the password of `{}`",
            args.password_env, args.user
        )
    })?;
    let mut mysql = MySqlConfig::new(&args.user, password).database(&args.database);
    mysql.tls = args.tls_ca.clone().map(Tls::with_ca_file);
    let cluster = MySqlRouter::connect(&discovery, args.service.as_str(), mysql).await?;
    // The router shares the watch of its Service: this is the one it follows.
    println!(
        "source: {}",
        discovery.watch(args.service.as_str()).await?.source()
    );
    for pod in &cluster.topology().pods {
        println!(
            "{:<10} {:<22} {:?}",
            pod.peer.hostname(),
            pod.peer.addr().to_string(),
            pod.role()
        );
    }
    cluster
        .execute(
            "CREATE TABLE IF NOT EXISTS visits \
             (id BIGINT AUTO_INCREMENT PRIMARY KEY, written_on INT NOT NULL)",
        )
        .await?;

    let mut round = 0u64;
    while args.count.is_none_or(|n| round < n) {
        round += 1;
        let token = match write(&cluster).await {
            Ok((id, pod, token)) => {
                print!("round {round}: INSERT id={id} on {pod}");
                Some(token)
            }
            Err(e) => {
                print!("round {round}: write failed ({e})");
                None
            }
        };
        let read = async {
            let conn = match &token {
                Some(token) => cluster.replica_after(token).await?,
                None => cluster.replica().await?,
            };
            count(conn).await
        };
        match read.await {
            Ok((rows, pod, fallback)) => println!(
                "; read-your-writes: {rows} rows on {pod}{}",
                if fallback {
                    " (primary: no replica had it in time)"
                } else {
                    ""
                }
            ),
            Err(e) => println!("; read failed ({e})"),
        }
        tokio::time::sleep(args.every).await;
    }
    Ok(())
}

/// One insert on the primary, and the token that lets a replica read wait for it.
async fn write(
    cluster: &MySqlRouter,
) -> Result<(u64, String, headless_discovery_mysql::ConsistencyToken), BoxError> {
    // The insert and its token on one connection, so the token names this write. What
    // was not applied (a 1290 in a switchover, a dead primary) waits for the new primary
    // and goes there; errors are typed and name the pod.
    let insert = Statement::new("INSERT INTO visits (written_on) VALUES (@@server_id)");
    let (reply, token) = cluster.execute_with_token(insert).await?;
    let id = reply.last_insert_id.unwrap_or_default();
    Ok((id, reply.pod.hostname().to_owned(), token))
}

async fn count(mut conn: PodConnection) -> Result<(u64, String, bool), BoxError> {
    let rows: Option<u64> = conn.query_first("SELECT COUNT(*) FROM visits").await?;
    Ok((
        rows.unwrap_or_default(),
        conn.pod().hostname().to_owned(),
        conn.is_fallback(),
    ))
}
