//! One `redis-server` process and the few commands the testkit sends it.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo,
};

use super::REDIS_PORT;
use crate::Error;
use crate::process::ServerProcess;
use crate::tls::PodTlsFiles;

/// Starts `redis-server` bound to `ip:6379`, in memory only, replicating `upstream` if given.
pub(super) fn spawn(
    ip: IpAddr,
    dir: &Path,
    upstream: Option<SocketAddr>,
    password: Option<&str>,
    tls: Option<&PodTlsFiles>,
) -> Result<ServerProcess, Error> {
    // A config file, empty at every start (the options below set everything), so that
    // CONFIG REWRITE works as it does in the manifests' pods (their switchover runs it).
    let config = dir.join("redis.conf");
    std::fs::write(&config, "")
        .map_err(|e| Error::Process(format!("writing {}: {e}", config.display())))?;
    let mut command = Command::new("redis-server");
    command.arg(&config).arg("--bind").arg(ip.to_string());
    match tls {
        None => {
            command.args(["--port", &REDIS_PORT.to_string()]);
        }
        Some(files) => {
            command
                .args(["--port", "0", "--tls-port", &REDIS_PORT.to_string()])
                .arg("--tls-cert-file")
                .arg(&files.cert)
                .arg("--tls-key-file")
                .arg(&files.key)
                .arg("--tls-ca-cert-file")
                .arg(&files.ca)
                .args(["--tls-auth-clients", "no", "--tls-replication", "yes"]);
        }
    }
    command
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        // Fast failure detection between pods, as tests kill and freeze them.
        .args(["--repl-timeout", "5", "--repl-ping-replica-period", "1"])
        // A diskless full sync waits 5 s by default for more replicas to join it: every
        // set (and every replica made after a failover) would take that long to link.
        .args(["--repl-diskless-sync-delay", "0"]);
    if let Some(master) = upstream {
        command.args([
            "--replicaof",
            &master.ip().to_string(),
            &master.port().to_string(),
        ]);
    }
    if let Some(password) = password {
        command.args(["--requirepass", password, "--masterauth", password]);
    }
    ServerProcess::spawn("redis-server", command)
        .map_err(|e| Error::Process(format!("{e} (install redis-server; scripts/test does)")))
}

/// A multiplexed connection to one pod. With TLS, the testkit's own (setup) connections
/// skip certificate checks: they test nothing; the SDK's connections are what is tested.
pub(super) async fn connect(
    addr: SocketAddr,
    password: Option<&str>,
    tls: bool,
) -> Result<MultiplexedConnection, Error> {
    let mut redis = RedisConnectionInfo::default();
    if let Some(password) = password {
        redis = redis.set_password(password);
    }
    let host = addr.ip().to_string();
    let address = if tls {
        ConnectionAddr::TcpTls {
            host,
            port: addr.port(),
            insecure: true,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, addr.port())
    };
    let info = address
        .into_connection_info()
        .map_err(|e| Error::Process(format!("redis address {addr}: {e}")))?
        .set_redis_settings(redis);
    let client =
        Client::open(info).map_err(|e| Error::Process(format!("redis client for {addr}: {e}")))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| Error::Process(format!("connecting to redis at {addr}: {e}")))
}

/// Waits until the server at `addr` answers PING.
pub(super) async fn wait_until_up(
    addr: SocketAddr,
    password: Option<&str>,
    tls: bool,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        match connect(addr, password, tls).await {
            Ok(mut conn) => match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("not answering after {timeout:?}: {last}"))
}

/// `REPLICAOF host port`, or `REPLICAOF NO ONE`.
pub(super) async fn replicaof(
    conn: &mut MultiplexedConnection,
    master: Option<SocketAddr>,
) -> Result<(), Error> {
    let mut cmd = redis::cmd("REPLICAOF");
    match master {
        Some(addr) => cmd.arg(addr.ip().to_string()).arg(addr.port()),
        None => cmd.arg("NO").arg("ONE"),
    };
    cmd.query_async::<()>(conn)
        .await
        .map_err(|e| Error::Process(format!("REPLICAOF failed: {e}")))
}

/// One number from `INFO replication`.
pub(super) async fn info_number(
    conn: &mut MultiplexedConnection,
    field: &str,
) -> Result<Option<u64>, Error> {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(conn)
        .await
        .map_err(|e| Error::Process(format!("INFO replication: {e}")))?;
    Ok(info
        .lines()
        .find_map(|l| l.trim().strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.parse().ok()))
}

/// Waits until the replica's link is up and it has processed `offset`.
pub(super) async fn wait_for_offset(
    conn: &mut MultiplexedConnection,
    offset: u64,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let link_up = info.lines().any(|l| l.trim() == "master_link_status:up");
        let processed = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("slave_repl_offset:"))
            .and_then(|v| v.parse::<u64>().ok());
        if link_up && processed.is_some_and(|p| p >= offset) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "not caught up to offset {offset} after {timeout:?}"
    ))
}

/// Sends a marker through the replication stream of this master (a PUBLISH, which Redis
/// propagates, so no key is left behind) and waits until `replicas` replicas have
/// acknowledged it (`WAIT` on the same connection).
pub(super) async fn wait_for_acks(
    conn: &mut MultiplexedConnection,
    replicas: usize,
    timeout: Duration,
) -> Result<(), String> {
    let _: i64 = redis::cmd("PUBLISH")
        .arg("discovery-testkit:replication-marker")
        .arg("1")
        .query_async(conn)
        .await
        .map_err(|e| format!("PUBLISH marker: {e}"))?;
    let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let acked: usize = redis::cmd("WAIT")
        .arg(replicas)
        .arg(millis)
        .query_async(conn)
        .await
        .map_err(|e| format!("WAIT: {e}"))?;
    if acked < replicas {
        return Err(format!(
            "{acked} of {replicas} replicas acknowledged the marker within {timeout:?}"
        ));
    }
    Ok(())
}
