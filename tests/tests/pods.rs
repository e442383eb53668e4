//! The shipped manifests' pods, run by the pod runner as Kubernetes would run them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use discovery_e2e::pods::{Pod, Runner, RunningSet};

const READY: Duration = Duration::from_secs(90);
/// `terminationGracePeriodSeconds`, shortened: every server here exits on SIGTERM at once.
const GRACE: Duration = Duration::from_secs(10);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The example binaries, next to this test's in the target directory.
fn examples() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples")))
        .expect("target directory")
}

async fn runner() -> Runner {
    Runner::start(&repo().join("examples/k8s"), &examples())
        .await
        .expect("the pod runner starts (it needs root)")
}

/// The two stores the drill runs on.
#[derive(Clone, Copy)]
enum Store {
    Redis,
    Mysql,
}

impl Store {
    fn set(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Mysql => "mysql",
        }
    }

    fn job(self) -> &'static str {
        match self {
            Self::Redis => "redis-master-replica",
            Self::Mysql => "mysql-read-write",
        }
    }

    /// What pod `ordinal` says of its replication, for a failure message.
    async fn replication_detail(self, set: &RunningSet, ordinal: u32) -> String {
        let command: &[&str] = match self {
            Self::Redis => &["redis-cli", "info", "replication"],
            Self::Mysql => &["mariadb", "-E", "-e", "SHOW SLAVE STATUS"],
        };
        let out = set.exec_ok(ordinal, command).await;
        format!(
            "--- pod {ordinal}: {}\n",
            out.unwrap_or_else(|e| e.to_string())
        )
    }

    async fn roles(self, set: &RunningSet) -> Vec<Role> {
        match self {
            Self::Redis => redis_roles(set).await,
            Self::Mysql => mysql_roles(set).await,
        }
    }

    /// Writes marker `n` (1, 2, ...) on pod `leader`; the first also makes room for them.
    async fn write(self, set: &RunningSet, leader: u32, n: u32) {
        match self {
            Self::Redis => {
                let n = n.to_string();
                assert_eq!(redis_cli(set, leader, &["set", "k", &n]).await, "OK");
            }
            Self::Mysql => {
                if n == 1 {
                    sql(set, leader, "CREATE TABLE app.t (id INT PRIMARY KEY)").await;
                }
                sql(set, leader, &format!("INSERT INTO app.t VALUES ({n})")).await;
            }
        }
    }

    /// Waits until every pod has marker `n` (MariaDB: markers 1 to `n`).
    async fn replicated(self, set: &RunningSet, n: u32) {
        match self {
            Self::Redis => everywhere(set, "k", &n.to_string()).await,
            Self::Mysql => rows_everywhere(set, n).await,
        }
    }

    async fn switchover(self, set: &RunningSet) {
        match self {
            Self::Redis => redis_switchover(set).await,
            Self::Mysql => mysql_switchover(set).await,
        }
    }
}

/// One pod's role, as its server reports it.
#[derive(Debug)]
struct Role {
    /// Takes writes: Redis `role:master`, MariaDB `read_only` off.
    writable: bool,
    /// The host it replicates from (empty for none).
    source: String,
    /// Its replication is up: Redis `master_link_status:up`, MariaDB both threads running.
    linked: bool,
}

/// The value after `key` and `separator` on a line of `text`, or "".
fn field(text: &str, key: &str, separator: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(separator))
        .unwrap_or_default()
        .to_owned()
}

/// Redis's `INFO replication` of every pod.
async fn redis_roles(set: &RunningSet) -> Vec<Role> {
    let mut roles = Vec::new();
    for o in 0..set.replicas() {
        let info = set
            .exec_ok(o, &["redis-cli", "info", "replication"])
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", set.log_tail(o, 20)));
        roles.push(Role {
            writable: field(&info, "role", ":") == "master",
            source: field(&info, "master_host", ":"),
            linked: field(&info, "master_link_status", ":") == "up",
        });
    }
    roles
}

/// Waits until exactly one pod is writable and replicates from nobody, and every other
/// pod is read-only and replicates it with its link up (no second leader, no loop); the
/// leader's ordinal.
async fn one_leader(store: Store, set: &RunningSet, when: &str) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let roles = store.roles(set).await;
        let writable: Vec<u32> = (0..set.replicas())
            .filter(|&o| roles[o as usize].writable)
            .collect();
        assert!(
            writable.len() <= 1,
            "{when}: two writable pods {writable:?}: {roles:?}"
        );
        if let [leader] = writable[..] {
            let fqdn = set.fqdn(leader);
            let linked = roles
                .iter()
                .enumerate()
                .all(|(o, r)| o as u32 == leader || (r.source == fqdn && r.linked));
            if linked && roles[leader as usize].source.is_empty() {
                return leader;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let mut why = String::new();
            for o in 0..set.replicas() {
                why.push_str(&store.replication_detail(set, o).await);
                why.push_str(&set.log_tail(o, 15));
            }
            panic!(
                "{when}: no single leader with every replica linked within 30 s: {roles:?}\n{why}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn redis_cli(set: &RunningSet, ordinal: u32, args: &[&str]) -> String {
    let mut argv = vec!["redis-cli"];
    argv.extend_from_slice(args);
    set.exec_ok(ordinal, &argv)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", set.log_tail(ordinal, 20)))
        .trim()
        .to_owned()
}

/// Waits until every pod answers `GET key` with `value`.
async fn everywhere(set: &RunningSet, key: &str, value: &str) {
    for o in 0..set.replicas() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while redis_cli(set, o, &["get", key]).await != value {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-{o} never read {key}={value}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The drill's first half on Redis, as `examples/minikube.sh` runs it: the manifest's
/// switchover script, in the candidate redis-1.
async fn redis_switchover(redis: &RunningSet) {
    let out = redis
        .exec_ok(1, &["sh", "/scripts/switchover.sh"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("switchover: done"), "{out}");
}

/// The same on MariaDB: the manifest's script steps, each in its pod, to mysql-1.
async fn mysql_switchover(mysql: &RunningSet) {
    let position = mysql_script(mysql, 0, &["freeze"]).await;
    mysql_script(mysql, 1, &["catch-up", &position]).await;
    mysql_script(mysql, 1, &["promote"]).await;
    for o in [0, 2] {
        mysql_script(mysql, o, &["follow", "mysql-1"]).await;
    }
}

/// Deletes pod `ordinal` (SIGTERM, SIGKILL after `GRACE`) and waits until the pod the
/// controller creates in its place is Ready.
async fn replace_pod(set: &RunningSet, ordinal: u32) {
    set.delete_pod(ordinal, GRACE)
        .await
        .unwrap_or_else(|e| panic!("delete pod {ordinal}: {e}"));
    ready(set, ordinal).await;
}

/// The store's StatefulSet rolled out, pod 0 its only leader, marker 1 on every pod. The
/// runner is returned too: it holds the pods' DNS.
async fn rolled_out(store: Store) -> (Runner, RunningSet) {
    let runner = runner().await;
    let set = runner
        .apply(store.set(), READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one_leader(store, &set, "after the roll-out").await, 0);
    store.write(&set, 0, 1).await;
    store.replicated(&set, 1).await;
    (runner, set)
}

async fn ready(set: &RunningSet, ordinal: u32) {
    if let Err(e) = set.wait_ready(ordinal, READY).await {
        panic!("{e}");
    }
}

async fn sql(set: &RunningSet, ordinal: u32, statement: &str) -> String {
    set.exec_ok(ordinal, &["mariadb", "-N", "-B", "-e", statement])
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", set.log_tail(ordinal, 30)))
        .trim()
        .to_owned()
}

/// MariaDB's `read_only` and `SHOW SLAVE STATUS` of every pod.
async fn mysql_roles(set: &RunningSet) -> Vec<Role> {
    let mut roles = Vec::new();
    for o in 0..set.replicas() {
        let writable = sql(set, o, "SELECT @@read_only").await == "0";
        let status = set
            .exec_ok(o, &["mariadb", "-E", "-e", "SHOW SLAVE STATUS"])
            .await
            .unwrap_or_default();
        roles.push(Role {
            writable,
            source: field(&status, "Master_Host", ": "),
            linked: field(&status, "Slave_IO_Running", ": ") == "Yes"
                && field(&status, "Slave_SQL_Running", ": ") == "Yes",
        });
    }
    roles
}

/// Waits until every pod has `rows` rows in `app.t`.
async fn rows_everywhere(set: &RunningSet, rows: u32) {
    for o in 0..set.replicas() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while sql(set, o, "SELECT COUNT(*) FROM app.t").await != rows.to_string() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "mysql-{o} never had {rows} rows"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn mysql_script(set: &RunningSet, ordinal: u32, args: &[&str]) -> String {
    let mut argv = vec!["sh", "/mysql-config/mysql.sh"];
    argv.extend_from_slice(args);
    set.exec_ok(ordinal, &argv)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .trim()
        .to_owned()
}

/// The store's StatefulSet as shipped: it rolls out, replicates, survives the drill
/// (switchover to pod 1, the old leader's pod deleted), a rolling restart, the leader
/// restarted alone and every pod down at once, with exactly one writable pod and no loop
/// after each, and nothing lost that the leader acknowledged.
async fn restarts_keep_one_leader(store: Store) -> (Runner, RunningSet) {
    let (runner, set) = rolled_out(store).await;

    store.switchover(&set).await;
    assert_eq!(one_leader(store, &set, "after the switchover").await, 1);
    replace_pod(&set, 0).await;
    assert_eq!(
        one_leader(store, &set, "after the old leader restarted").await,
        1,
        "the old leader came back as a replica"
    );
    store.write(&set, 1, 2).await;
    store.replicated(&set, 2).await;

    set.rolling_restart(GRACE, READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one_leader(store, &set, "after a rolling restart").await, 1);

    replace_pod(&set, 1).await;
    assert_eq!(
        one_leader(store, &set, "after the leader restarted alone").await,
        1
    );
    store.replicated(&set, 2).await;

    set.restart_all(GRACE, READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        one_leader(store, &set, "after every pod went down at once").await,
        1
    );
    store.replicated(&set, 2).await;
    store.write(&set, 1, 3).await;
    store.replicated(&set, 3).await;
    (runner, set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_pods_keep_one_master_through_switchover_and_restarts() {
    restarts_keep_one_leader(Store::Redis).await;
}

/// Also: `app` is granted exactly its database plus replication monitoring, on every pod
/// (the grants reach the clones with the data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_pods_keep_one_primary_through_switchover_and_restarts() {
    let (_runner, mysql) = restarts_keep_one_leader(Store::Mysql).await;
    for o in 0..mysql.replicas() {
        let grants = sql(&mysql, o, "SHOW GRANTS FOR app@'%'").await;
        let grants: Vec<&str> = grants
            .lines()
            .map(|g| g.split(" IDENTIFIED BY").next().unwrap_or(g))
            .collect();
        assert_eq!(
            grants,
            [
                "GRANT SLAVE MONITOR ON *.* TO `app`@`%`",
                "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`%`"
            ],
            "mysql-{o}"
        );
    }
}

/// The `round N: ...` lines a Job's example has printed so far.
fn rounds(job: &Pod) -> Vec<String> {
    job.log("example")
        .lines()
        .filter(|l| l.starts_with("round "))
        .map(str::to_owned)
        .collect()
}

async fn wait_rounds(job: &Pod, what: &str, check: impl Fn(&[String]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check(&rounds(job)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {}",
            job.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After the Job exits 0: writes on `before` until the drill, on `after` once it is over,
/// no failed write at all (the drill is a planned switchover, then the old leader's pod,
/// a replica by then, replaced: what the old leader refused waits for the new one), and
/// reads served.
fn assert_drill_output(lines: &[String], start: usize, end: usize, before: &str, after: &str) {
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("write failed"))
        .collect();
    let slack = 10;
    // What a user watching the Job sees around the drill (also in examples/README.md).
    for line in &lines[start.saturating_sub(2)..(end + slack + 2).min(lines.len())] {
        eprintln!("{line}");
    }
    eprintln!(
        "(drill from round line {start} to {end} of {})",
        lines.len()
    );
    assert!(failed.is_empty(), "failed writes: {failed:#?}");
    assert!(
        lines[..start]
            .iter()
            .all(|l| l.contains(&format!("on {before}"))),
        "{lines:#?}"
    );
    let settled = &lines[(end + slack).min(lines.len())..];
    assert!(
        settled.len() >= 20,
        "the Job kept going after the drill: {lines:#?}"
    );
    assert!(
        settled.iter().all(|l| l.contains(&format!("on {after}"))),
        "every write after the drill went to {after}: {lines:#?}"
    );
}

async fn finished(job: Pod) -> Vec<String> {
    let code = job
        .readiness()
        .exit(Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 0, "the Job failed: {}", job.log_tail(40));
    assert_on_the_api(&job);
    rounds(&job)
}

/// The Job followed the EndpointSlices: its service account's token, the CA and
/// `KUBERNETES_SERVICE_HOST` came from the pod, and the manifests' Role allowed the reads.
fn assert_on_the_api(job: &Pod) {
    let log = job.log("example");
    assert!(
        log.lines()
            .any(|l| l == "source: kube (auto: the API answers)"),
        "{}: {log}",
        job.name()
    );
}

/// The store's Job, as shipped, through the drill `examples/minikube.sh` runs: the safe
/// switchover to pod 1, then the old leader's pod deleted and back. Its output lines,
/// once checked by [`assert_drill_output`].
async fn job_through_the_drill(store: Store) -> Vec<String> {
    let runner = runner().await;
    let set = runner
        .apply(store.set(), READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let job = runner.start_job(store.job()).expect("the Job");
    wait_rounds(&job, "writes on pod 0", |l| l.len() >= 10).await;
    let start = rounds(&job).len();
    store.switchover(&set).await;
    replace_pod(&set, 0).await;
    let end = rounds(&job).len();
    let lines = finished(job).await;
    // MySQL lines name the pod before a `;`, Redis lines before a `;` or the end.
    let (before, after) = match store {
        Store::Redis => ("redis-0", "redis-1"),
        Store::Mysql => ("mysql-0;", "mysql-1;"),
    };
    assert_drill_output(&lines, start, end, before, after);
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_job_writes_through_the_drill() {
    let lines = job_through_the_drill(Store::Redis).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("GET -> Some(") && l.contains("from redis-2")),
        "reads from a replica: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mysql_job_writes_and_reads_its_writes_through_the_drill() {
    let lines = job_through_the_drill(Store::Mysql).await;
    assert!(
        lines.iter().any(|l| l.contains("read-your-writes: ")),
        "read-your-writes reads: {lines:#?}"
    );
}

/// The echo StatefulSet (the examples image's `echo_serve`) and the Jobs that read
/// the DNS only: service-watch sees the Redis pods, echo-balance reaches every echo pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_and_watch_jobs_finish() {
    let runner = runner().await;
    let _redis = runner
        .apply("redis", READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _echo = runner
        .apply("echo", READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let balance = runner.start_job("echo-balance").expect("the Job");
    let watch = runner.start_job("service-watch").expect("the Job");
    for job in [balance, watch] {
        let code = job
            .readiness()
            .exit(Duration::from_secs(90))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 0, "{}", job.log_tail(40));
        assert_on_the_api(&job);
        let log = job.log("example");
        if job.name().starts_with("echo-balance") {
            for pod in ["echo-0", "echo-1", "echo-2"] {
                assert!(log.contains(pod), "{pod} answered: {log}");
            }
            assert!(!log.contains("failed"), "{log}");
        } else {
            assert!(log.contains("3 ready pods"), "{log}");
            assert!(log.contains("redis-2 (10.250."), "{log}");
        }
    }
}

/// A primary that crashed with a transaction nobody replicated comes back after a
/// failover with diverged GTIDs: strict mode refuses it (error 1236), and the pod clones
/// the new primary again instead of failing forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_pod_whose_gtids_diverged_clones_again() {
    let (_runner, mysql) = rolled_out(Store::Mysql).await;
    for o in [1, 2] {
        sql(&mysql, o, "STOP SLAVE").await;
    }
    // mysql-0 freezes holding row 99, which no replica received; mysql-1 is promoted.
    sql(&mysql, 0, "INSERT INTO app.t VALUES (99)").await;
    mysql
        .handle(0)
        .expect("mysql-0 runs")
        .signal("STOP")
        .expect("SIGSTOP mysql-0");
    mysql_script(&mysql, 1, &["promote"]).await;
    mysql_script(&mysql, 2, &["follow", "mysql-1"]).await;
    sql(&mysql, 1, "INSERT INTO app.t VALUES (2)").await;
    mysql
        .delete_pod(0, Duration::from_secs(1))
        .await
        .expect("delete mysql-0");
    ready(&mysql, 0).await;
    assert_eq!(
        one_leader(Store::Mysql, &mysql, "after the diverged pod came back").await,
        1
    );
    rows_everywhere(&mysql, 2).await;
    assert_eq!(
        sql(&mysql, 0, "SELECT GROUP_CONCAT(id ORDER BY id) FROM app.t").await,
        "1,2",
        "mysql-0 holds the new primary's rows, not its own lost one"
    );
    assert!(
        mysql
            .log_tail(0, 400)
            .contains("GTIDs diverged from the primary (error 1236): cloning again"),
        "{}",
        mysql.log_tail(0, 60)
    );
}

/// Pod 1 promoted by hand, the way an operator or a Sentinel without `CONFIG REWRITE`
/// does it, so its own persisted state still says "replica of pod 0", while the others
/// are repointed at it. Restarted alone, it must resume as leader because the others
/// follow it (boot rule 2), not replicate pod 0 and close a loop.
async fn a_leader_promoted_by_hand_resumes_after_a_restart(store: Store) {
    let (_runner, set) = rolled_out(store).await;
    let leader = set.fqdn(1);
    match store {
        Store::Redis => {
            redis_cli(&set, 1, &["replicaof", "no", "one"]).await;
            for o in [0, 2] {
                redis_cli(&set, o, &["replicaof", &leader, "6379"]).await;
            }
        }
        Store::Mysql => {
            sql(&set, 0, "SET GLOBAL read_only = 1").await;
            sql(&set, 1, "STOP SLAVE; SET GLOBAL read_only = 0").await;
            for o in [0, 2] {
                mysql_script(&set, o, &["follow", "mysql-1"]).await;
            }
        }
    }
    // Not `one_leader` yet: on MariaDB pod 1 still has its stale source, as intended.
    replace_pod(&set, 1).await;
    assert_eq!(
        one_leader(store, &set, "after the promoted pod restarted").await,
        1,
        "it resumed as leader"
    );
    store.write(&set, 1, 2).await;
    store.replicated(&set, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_master_promoted_by_hand_resumes_after_a_restart() {
    a_leader_promoted_by_hand_resumes_after_a_restart(Store::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_primary_promoted_by_hand_resumes_after_a_restart() {
    a_leader_promoted_by_hand_resumes_after_a_restart(Store::Mysql).await;
}
