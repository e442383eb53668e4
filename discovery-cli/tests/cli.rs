//! The `discovery` binary, run as a subprocess against a testkit cluster.

use std::net::IpAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use headless_discovery_testkit::{ApiServer, Cluster, Fault, StatefulSetSpec};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

fn discovery() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_discovery"));
    cmd.env_remove("DISCOVERY_NAMESERVER")
        .env_remove("POD_NAMESPACE");
    cmd
}

async fn run(args: &[&str]) -> Output {
    let mut cmd = discovery();
    cmd.args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run discovery"))
        .await
        .expect("join")
}

async fn redis_cluster(replicas: u32) -> (Cluster, headless_discovery_testkit::StatefulSet) {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .namespace("cache")
                .port("redis", 6379)
                .replicas(replicas),
        )
        .expect("statefulset");
    (cluster, set)
}

#[tokio::test(flavor = "multi_thread")]
async fn resolve_prints_a_table_and_json() {
    let (cluster, set) = redis_cluster(3).await;
    let ns = cluster.dns_addr().to_string();

    let out = run(&[
        "resolve",
        "redis.cache",
        "--port-name",
        "redis",
        "--nameserver",
        &ns,
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ORDINAL"), "{text}");
    for pod in set.pods() {
        assert!(
            text.contains(&pod.fqdn) && text.contains(&pod.ip.to_string()),
            "{text}"
        );
    }

    let out = run(&[
        "resolve",
        "_redis._tcp.redis.cache",
        "--nameserver",
        &ns,
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let peers: Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let peers = peers.as_array().expect("array");
    assert_eq!(peers.len(), 3);
    assert_eq!(peers[1]["ordinal"], 1);
    assert_eq!(peers[1]["hostname"], "redis-1");
    assert_eq!(peers[1]["fqdn"], "redis-1.redis.cache.svc.cluster.local");
    assert_eq!(peers[1]["ip"], set.pod(1).expect("pod").ip.to_string());
    assert_eq!(peers[1]["port"], 6379);
}

/// `--source kube`: the same pods from the testkit's API server (HTTPS, token), with
/// their zones, read through a kubeconfig.
#[tokio::test(flavor = "multi_thread")]
async fn resolve_from_the_kubernetes_api_with_a_kubeconfig() {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .namespace("cache")
                .port("redis", 6379)
                .replicas(2)
                .zones(&["zone-a", "zone-b"]),
        )
        .expect("statefulset");
    let api = ApiServer::builder()
        .token("cli-token")
        .https(true)
        .start(&cluster)
        .await
        .expect("API server");
    let kubeconfig = std::env::temp_dir().join(format!("cli-kubeconfig-{}", std::process::id()));
    std::fs::write(&kubeconfig, api.kubeconfig("cache")).expect("kubeconfig");
    let path = kubeconfig.to_string_lossy().into_owned();
    let out = run(&[
        "resolve",
        "_redis._tcp.redis.cache",
        "--source",
        "kube",
        "--kubeconfig",
        &path,
        "--json",
    ])
    .await;
    let _ = std::fs::remove_file(&kubeconfig);
    assert!(out.status.success(), "{out:?}");
    let peers: Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let peers = peers.as_array().expect("array");
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[1]["fqdn"], "redis-1.redis.cache.svc.cluster.local");
    assert_eq!(peers[1]["ip"], set.pod(1).expect("pod").ip.to_string());
    assert_eq!(peers[1]["zone"], "zone-b");
    assert_eq!(peers[1]["node"], "zone-b-node");
    assert!(api.requests() >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dashed_names_print_a_null_ordinal() {
    let cluster = Cluster::start().await.expect("cluster");
    cluster
        .statefulset(
            StatefulSetSpec::new("web")
                .port("http", 80)
                .hostnames(false),
        )
        .expect("statefulset");
    let out = run(&[
        "resolve",
        "web",
        "--nameserver",
        &cluster.dns_addr().to_string(),
        "--json",
    ])
    .await;
    let peers: Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    assert_eq!(peers[0]["ordinal"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_say_what_failed() {
    let (cluster, _set) = redis_cluster(1).await;
    let ns = cluster.dns_addr().to_string();

    let usage = run(&["resolve"]).await;
    assert_eq!(
        usage.status.code(),
        Some(2),
        "missing argument is a usage error"
    );
    let usage = run(&["resolve", "redis", "--nameserver", "not-an-address"]).await;
    assert_eq!(usage.status.code(), Some(2));

    let long = format!("{}.cache", "r".repeat(64));
    let longest = format!("{}.{}", "r".repeat(63), "n".repeat(63));
    let long_domain = format!("{}.{}", "a".repeat(40), "b".repeat(40));
    let domain = ["--cluster-domain", "Bad_Domain"];
    let namespace = ["-n", "BAD NS"];
    let usage_errors: [(&[&str], &str); 6] = [
        (&["Redis_0.cache"], "invalid service name"),
        (&[""], "the name is empty"),
        (&[&long], "64 characters long"),
        (&[&longest, "--cluster-domain", &long_domain], "too long"),
        (&["redis", namespace[0], namespace[1]], "namespace"),
        (&["redis", domain[0], domain[1]], "cluster_domain"),
    ];
    for (args, says) in usage_errors {
        let mut all = vec!["resolve"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--nameserver", &ns]);
        let out = run(&all).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("Malformed"),
            "no raw hickory text: {stderr}"
        );
    }

    let mut bad_env = discovery();
    bad_env
        .args(["resolve", "redis.cache"])
        .env("DISCOVERY_NAMESERVER", "nowhere");
    let out = tokio::task::spawn_blocking(move || bad_env.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("DISCOVERY_NAMESERVER"));

    let unset = run(&[
        "redis",
        "topology",
        "_redis._tcp.redis.cache",
        "--nameserver",
        &ns,
        "--password-env",
        "DISCOVERY_TEST_SURELY_UNSET",
    ])
    .await;
    assert_eq!(unset.status.code(), Some(2), "{unset:?}");

    let none = run(&["resolve", "_redis._tcp.nothing.cache", "--nameserver", &ns]).await;
    assert_eq!(none.status.code(), Some(3), "{none:?}");
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(
        stderr.contains("no ready pod, or no such Service"),
        "{stderr}"
    );

    cluster.set_fault(Fault::ServFail);
    let failed = run(&["resolve", "_redis._tcp.redis.cache", "--nameserver", &ns]).await;
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("DNS query"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contradictory_answer_is_a_failure_not_an_empty_list() {
    use headless_discovery_testkit::{RecordType, ScriptedRecord, ScriptedReply};

    let (cluster, _set) = redis_cluster(2).await;
    let srv = "_redis._tcp.redis.cache.svc.cluster.local";
    let target = "redis-5.redis.cache.svc.cluster.local";
    cluster
        .script(
            srv,
            RecordType::SRV,
            ScriptedReply::records([ScriptedRecord::srv(srv, 6379, target)]),
        )
        .expect("script");
    for rtype in [RecordType::A, RecordType::AAAA] {
        cluster
            .script(target, rtype, ScriptedReply::nodata())
            .expect("script");
    }
    let ns = cluster.dns_addr().to_string();
    let out = run(&[
        "resolve",
        "_redis._tcp.redis.cache",
        "--nameserver",
        &ns,
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "no `[]`: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("contradicts itself"), "{stderr}");
}

/// Kills the child on drop, also when the test panics.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_prints_the_set_then_each_change_as_json_lines() {
    let (cluster, set) = redis_cluster(2).await;
    let mut child = discovery();
    child
        .args([
            "watch",
            "_redis._tcp.redis.cache",
            "--json",
            "--nameserver",
            &cluster.dns_addr().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Killed(child.spawn().expect("spawn watch"));
    let stdout = child.0.stdout.take().expect("stdout");
    let stdout = tokio::process::ChildStdout::from_std(stdout).expect("async stdout");
    let mut lines = BufReader::new(stdout).lines();

    for ordinal in 0..2 {
        let event = next(&mut lines).await;
        assert_eq!(event["event"], "added");
        assert_eq!(event["peer"]["ordinal"], ordinal);
    }
    set.scale(3).expect("scale");
    let event = next(&mut lines).await;
    assert_eq!(
        (event["event"].as_str(), event["peer"]["hostname"].as_str()),
        (Some("added"), Some("redis-2"))
    );
    let new_ip = set.replace_pod(0).expect("replace");
    let event = next(&mut lines).await;
    assert_eq!(event["event"], "changed");
    assert_eq!(event["peer"]["ip"], new_ip.to_string());
    set.scale(2).expect("scale down");
    let event = next(&mut lines).await;
    assert_eq!(
        (event["event"].as_str(), event["peer"]["ordinal"].as_u64()),
        (Some("removed"), Some(2))
    );
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("a line in time")
        .expect("read")
        .expect("not closed");
    serde_json::from_str::<Value>(&line).expect("a JSON object per line")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_to_the_end() {
    let out = run(&["demo"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "scale up",
        "rolling update",
        "DNS outage",
        "degraded",
        "DNS answering again",
        "no ready peer",
        "demo finished",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected:?}:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_topology_shows_roles_and_the_master() {
    use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};

    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let redis = RedisStatefulSet::start(
        &cluster,
        RedisSpec::new("redis").password("pw-123").tls(true),
    )
    .await
    .expect("redis pods");
    redis.promote(1).await.expect("redis-1 is master now");
    redis.wait_for_replication().await.expect("replicated");
    let ca = std::env::temp_dir().join(format!("discovery-cli-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, redis.ca_pem().expect("CA")).expect("CA file");
    let ns = cluster.dns_addr().to_string();
    let args = |json: bool| {
        let mut args = vec![
            "redis".to_owned(),
            "topology".into(),
            "_redis._tcp.redis".into(),
            "--nameserver".into(),
            ns.clone(),
            "--password-env".into(),
            "REDIS_PW".into(),
            "--tls-ca".into(),
            ca.display().to_string(),
        ];
        if json {
            args.push("--json".into());
        }
        args
    };
    let run_with_password = |args: Vec<String>| async move {
        let mut cmd = discovery();
        cmd.args(&args).env("REDIS_PW", "pw-123");
        tokio::task::spawn_blocking(move || cmd.output().expect("run"))
            .await
            .expect("join")
    };

    let out = run_with_password(args(true)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topology: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_shared_shape(&topology);
    assert_eq!(topology["leader"]["state"], "one");
    assert_eq!(
        topology["leader"]["pods"],
        "redis-1.redis.default.svc.cluster.local"
    );
    let roles = |key: &dyn Fn(&Value) -> Value| -> Vec<Value> {
        topology["pods"]
            .as_array()
            .expect("pods")
            .iter()
            .map(key)
            .collect()
    };
    assert_eq!(
        roles(&|p| p["role"].clone()),
        ["replica", "leader", "replica"]
    );
    assert_eq!(
        roles(&|p| p["report"]["role"].clone()),
        ["replica", "master", "replica"],
        "the report keeps Redis's words"
    );
    assert_eq!(topology["pods"][0]["ordinal"], 0);
    assert_eq!(topology["pods"][0]["report"]["link_up"], true);

    let out = run_with_password(args(false)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ORDINAL"), "{text}");
    assert!(
        text.contains("master: redis-1.redis.default.svc.cluster.local"),
        "{text}"
    );
    assert!(!text.contains("pw-123") && !String::from_utf8_lossy(&out.stderr).contains("pw-123"));

    // No master: the check answered, but there is nothing to write to.
    redis.kill(1).expect("kill the master");
    let out = run_with_password(args(false)).await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no master"), "{stderr}");
    let _ = std::fs::remove_file(ca);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_never_goes_to_a_pod_outside_the_service() {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
    use headless_discovery_testkit::{RecordType, ScriptedRecord as R, ScriptedReply};

    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let redis = RedisStatefulSet::start(
        &cluster,
        RedisSpec::new("redis").replicas(1).password("pw-456"),
    )
    .await
    .expect("redis pod");
    // A listener at an address a lying DNS server hands out, counting who connects.
    let trap_ip = cluster.addresses().next_v4().expect("an address");
    let trap = tokio::net::TcpListener::bind(SocketAddr::from((trap_ip, 0)))
        .await
        .expect("bind");
    let port = trap.local_addr().expect("addr").port();
    let dialled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dialled);
    let accepting = tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });

    let srv = "_redis._tcp.redis.default.svc.cluster.local";
    let pod = "redis-0.redis.default.svc.cluster.local";
    let pod_ip = redis.addr(0).expect("pod address").ip();
    let IpAddr::V4(pod_v4) = pod_ip else {
        panic!("IPv4 pods")
    };
    for foreign in [
        "evil.example.com",
        "redis-0.redis.kube-system.svc.cluster.local",
    ] {
        let reply = ScriptedReply::records([R::srv(srv, 6379, pod), R::srv(srv, port, foreign)])
            .with_additional(R::a(pod, pod_v4))
            .with_additional(R::a(foreign, trap_ip));
        cluster
            .script(srv, RecordType::SRV, reply.clone())
            .expect("script");
        let mut cmd = discovery();
        cmd.args([
            "redis",
            "topology",
            "_redis._tcp.redis",
            "--nameserver",
            &cluster.dns_addr().to_string(),
            "--password-env",
            "REDIS_PW",
            "--json",
        ])
        .env("REDIS_PW", "pw-456");
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
            .await
            .expect("join");
        assert!(out.status.success(), "{out:?}");
        let topology: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(
            topology["pods"].as_array().map(Vec::len),
            Some(1),
            "{topology}"
        );
        assert_eq!(topology["pods"][0]["fqdn"], pod);
    }
    assert_eq!(
        dialled.load(Ordering::SeqCst),
        0,
        "a foreign address was dialled"
    );
    accepting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_topology_shows_roles_threads_lag_and_the_primary() {
    use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};

    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql"))
        .await
        .expect("mariadb pods");
    mysql.promote(1).await.expect("mysql-1 is primary now");
    mysql.wait_for_replication().await.expect("replicated");
    mysql
        .stop_sql_thread(2)
        .await
        .expect("stop mysql-2's SQL thread");
    let ns = cluster.dns_addr().to_string();
    let run_as = |password: &str, json: bool| {
        let mut cmd = discovery();
        cmd.args([
            "mysql",
            "topology",
            "_mysql._tcp.mysql",
            "--nameserver",
            &ns,
            "--user",
            mysql.user(),
            "--password-env",
            "MYSQL_PW",
        ])
        .env("MYSQL_PW", password);
        if json {
            cmd.arg("--json");
        }
        async move {
            tokio::task::spawn_blocking(move || cmd.output().expect("run"))
                .await
                .expect("join")
        }
    };

    let out = run_as(mysql.password(), true).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topology: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_shared_shape(&topology);
    assert_eq!(topology["leader"]["state"], "one");
    assert_eq!(
        topology["leader"]["pods"],
        "mysql-1.mysql.default.svc.cluster.local"
    );
    let pods = topology["pods"].as_array().expect("pods");
    let roles: Vec<_> = pods.iter().map(|p| p["role"].clone()).collect();
    assert_eq!(roles, ["replica", "leader", "replica"]);
    assert_eq!(pods[0]["report"]["read_only"], true);
    assert_eq!(pods[2]["report"]["replication"]["sql_running"], "stopped");
    assert!(pods[2]["report"]["replication"]["seconds_behind"].is_null());
    assert!(
        pods[1]["report"]["gtid_position"]
            .as_str()
            .is_some_and(|g| g.starts_with("0-"))
    );

    let out = run_as(mysql.password(), false).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ORDINAL  POD"), "{table}");
    let row = |host: &str| {
        table
            .lines()
            .find(|l| l.contains(host))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let second = row("mysql-1.mysql");
    assert_eq!(second[3..5], ["primary", "OFF"], "{table}");
    assert_eq!(second.last().map(String::as_str), Some("*"), "{table}");
    let third = row("mysql-2.mysql");
    assert!(
        third.contains(&"sql=stopped".to_owned()) && third.contains(&"NULL".to_owned()),
        "{table}"
    );
    assert!(
        table.contains("primary: mysql-1.mysql.default.svc.cluster.local"),
        "{table}"
    );

    // A wrong password: no pod could be asked, which is no success.
    let out = run_as("not-the-password", false).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no pod could be probed"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}

/// Both stores' `topology --json` share one shape: the round, the leader choice, and per
/// pod its identity, role, health, latency and lag, then the store's own `report`.
fn assert_shared_shape(topology: &Value) {
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut top = keys(topology);
    top.sort();
    assert_eq!(top, ["leader", "pods", "round_us"], "{topology}");
    for pod in topology["pods"].as_array().expect("pods") {
        let mut fields = keys(pod);
        fields.sort();
        assert_eq!(
            fields,
            [
                "error",
                "fqdn",
                "hostname",
                "ip",
                "lag",
                "latency_us",
                "ordinal",
                "port",
                "rejected",
                "report",
                "role"
            ],
            "{pod}"
        );
        let mut lag = keys(&pod["lag"]);
        lag.sort();
        assert_eq!(lag, ["bytes", "seconds"], "{pod}");
    }
}
