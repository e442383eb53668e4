//! Every example, run as the same binary a user runs, against the testkit (`--nameserver`),
//! including through failovers. `scripts/test` builds the examples first.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discovery_e2e::eventually;
use headless_discovery_testkit::echo::EchoServer;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
use headless_discovery_testkit::{Cluster, StatefulSetSpec};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The example's binary, next to this test's in the target directory.
fn example(name: &str) -> Command {
    let path: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples").join(name)))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --examples` (scripts/test does)",
        path.display()
    );
    let mut command = Command::new(path);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// A running example and every line it has printed so far.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("example starts");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().expect("lines").push(line);
            }
        });
        Self { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    async fn wait_for(&self, what: &str, deadline: Duration, check: impl Fn(&[String]) -> bool) {
        eventually(what, deadline, || {
            let done = check(&self.lines());
            async move { done.then_some(()) }
        })
        .await;
    }

    /// Waits for the example to exit by itself and returns its whole output.
    async fn finish(mut self, deadline: Duration) -> Vec<String> {
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .expect("the example ends by itself")
            .expect("exit status");
        // Let the reader drain what is left in the pipe.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let lines = self.lines();
        assert!(status.success(), "exit {status}: {lines:#?}");
        lines
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_watch_prints_the_pods_and_each_change() {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = cluster
        .statefulset(StatefulSetSpec::new("web").port("http", 8080).replicas(2))
        .expect("set");
    let mut command = example("service_watch");
    command.args([
        "--service",
        "_http._tcp.web",
        "--nameserver",
        &cluster.dns_addr().to_string(),
        "--exit-after",
        "6s",
    ]);
    let running = Running::start(command);
    running
        // A bound, not a target: a CI machine running the whole suite on 2 cores once
        // took more than 5 s to start the binary and print its first lines.
        .wait_for("the initial pods", Duration::from_secs(20), |l| {
            l.iter().any(|l| l.contains("2 ready pods"))
        })
        .await;
    set.scale(3).expect("scale up");
    running
        .wait_for("web-2 added", Duration::from_secs(20), |l| {
            l.iter().any(|l| l.starts_with("+ web-2"))
        })
        .await;
    let lines = running.finish(Duration::from_secs(10)).await;
    assert!(
        lines.iter().any(|l| l.contains("ordinal=Some(1)")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_balance_reaches_every_pod_and_follows_a_scale_up() {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = cluster
        .statefulset(StatefulSetSpec::new("echo").port("echo", 7000).replicas(2))
        .expect("set");
    let mut servers = Vec::new();
    for pod in set.pods() {
        servers.push(
            EchoServer::start((pod.ip, 7000).into(), &pod.name)
                .await
                .expect("echo pod"),
        );
    }
    let mut command = example("echo_balance");
    command.args([
        "--service",
        "_echo._tcp.echo",
        "--nameserver",
        &cluster.dns_addr().to_string(),
        "--count",
        "150",
        "--every",
        "40ms",
    ]);
    let running = Running::start(command);
    running
        .wait_for("answers from both pods", Duration::from_secs(10), |l| {
            l.iter().any(|l| l.starts_with("echo-0 ")) && l.iter().any(|l| l.starts_with("echo-1 "))
        })
        .await;
    set.scale(3).expect("scale up");
    let pod = set.pod(2).expect("echo-2");
    servers.push(
        EchoServer::start((pod.ip, 7000).into(), &pod.name)
            .await
            .expect("echo-2"),
    );
    let lines = running.finish(Duration::from_secs(20)).await;
    assert!(lines.iter().any(|l| l.starts_with("echo-2 ")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("failed")), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_master_replica_keeps_going_through_a_failover() {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let redis = RedisStatefulSet::start(&cluster, RedisSpec::new("redis"))
        .await
        .expect("redis pods");
    let mut command = example("redis_master_replica");
    command.args([
        "--service",
        "_redis._tcp.redis",
        "--nameserver",
        &cluster.dns_addr().to_string(),
        "--count",
        "80",
        "--every",
        "50ms",
    ]);
    let running = Running::start(command);
    running
        .wait_for("writes on redis-0", Duration::from_secs(10), |l| {
            l.iter().filter(|l| l.contains("on redis-0")).count() >= 5
        })
        .await;
    redis.kill(0).expect("kill the master");
    redis.promote(1).await.expect("promote redis-1");
    let lines = running.finish(Duration::from_secs(60)).await;
    let after: Vec<&String> = lines
        .iter()
        .skip_while(|l| !l.contains("on redis-1"))
        .collect();
    assert!(after.len() >= 10, "writes moved to redis-1: {lines:#?}");
    assert!(
        after
            .iter()
            .all(|l| l.contains("INCR -> ") && l.contains("on redis-1")),
        "every round after the failover writes on redis-1: {lines:#?}"
    );
    assert!(
        after.iter().any(|l| l.contains("GET -> Some(")),
        "{lines:#?}"
    );
    only_an_in_flight_write_failed(&lines);
}

/// Through a crash failover, a write fails only if it was in flight at the kill, as an
/// unknown outcome: never a refusal or a dead connection the SDK could have waited out.
fn only_an_in_flight_write_failed(lines: &[String]) {
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("write failed"))
        .collect();
    assert!(failed.len() <= 1, "{failed:#?}");
    for line in failed {
        assert!(
            line.contains("whether it was applied is unknown"),
            "a write the SDK could have held failed: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_read_write_reads_its_writes_through_a_failover() {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql"))
        .await
        .expect("mariadb pods");
    let mut command = example("mysql_read_write");
    command
        .args([
            "--service",
            "_mysql._tcp.mysql",
            "--nameserver",
            &cluster.dns_addr().to_string(),
            "--user",
            mysql.user(),
            "--database",
            mysql.database(),
            "--count",
            "80",
            "--every",
            "50ms",
        ])
        .env("MYSQL_PASSWORD", mysql.password());
    let running = Running::start(command);
    running
        .wait_for("writes on mysql-0", Duration::from_secs(10), |l| {
            l.iter().filter(|l| l.contains("on mysql-0;")).count() >= 5
        })
        .await;
    mysql.kill(0).expect("kill the primary");
    mysql.promote(1).await.expect("promote mysql-1");
    let lines = running.finish(Duration::from_secs(60)).await;
    let after: Vec<&String> = lines
        .iter()
        .skip_while(|l| !l.contains("on mysql-1;"))
        .collect();
    assert!(after.len() >= 10, "writes moved to mysql-1: {lines:#?}");
    for line in &after {
        assert!(
            line.contains("INSERT id=") && line.contains("on mysql-1;"),
            "{lines:#?}"
        );
        // Read-your-writes: the count read back includes the row just written.
        let id: u64 = field(line, "INSERT id=");
        let rows: u64 = field(line, "read-your-writes: ");
        assert!(rows >= 1 && id >= 1, "{line}");
    }
    only_an_in_flight_write_failed(&lines);
}

/// The number right after `marker` in `line`.
fn field(line: &str, marker: &str) -> u64 {
    line.split(marker)
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{marker}` in `{line}`"))
}
