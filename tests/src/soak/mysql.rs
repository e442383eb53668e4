//! The soak on a real MariaDB set: one writer through `execute_with_token` (the
//! read-your-writes path: write and take the token, read it back with `query_after`),
//! one through `execute`, one running transactions on a session it holds (`run_on`), a
//! reader through `query`; faults from a [`Schedule`]; then every acknowledged row looked
//! up on the final primary.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use headless_discovery_mysql::{MySqlConfig, MySqlRouter, PodConnection, Statement};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::prelude::Queryable;

use super::{
    Bounds, FREEZE, Fault, Hit, Kind, Outcome, Pending, Report, Request, Schedule, Target,
    UNFENCED, check, dns_fault, play, requests,
};

/// The SDK settings the soak runs with, and each path's bound: a write waits for a
/// primary and sends again what was not applied, within `failover_wait` of its start,
/// plus the attempt (a connect and a reply) under way at the deadline; a read connects and waits once; a read-your-writes read connects to a
/// replica, waits for the position (itself bounded by a connect), and may fall back to
/// the primary; a transaction waits for a primary and connects, then runs three
/// statements.
fn sdk_config(set: &MariaDbStatefulSet) -> (MySqlConfig, Bounds) {
    let mut config = MySqlConfig::new(set.user(), set.password()).database(set.database());
    config.roles.probe_interval = Duration::from_millis(200);
    config.roles.failover_wait = Duration::from_secs(3);
    config.connect_timeout = Duration::from_millis(500);
    config.query_timeout = Duration::from_secs(1);
    config.read_your_writes_wait = Duration::from_secs(1);
    let attempt = config.connect_timeout + config.query_timeout;
    let bounds = Bounds {
        write: config.roles.failover_wait + attempt * 2,
        read: attempt,
        read_your_writes: attempt
            + config.read_your_writes_wait
            + config.connect_timeout * 2
            + config.roles.failover_wait,
        transaction: config.roles.failover_wait
            + config.connect_timeout * 2
            + config.query_timeout * 3,
    };
    (config, bounds)
}

/// Runs one schedule with a read-your-writes writer, a writer through `execute` and a
/// reader, and checks the history.
///
/// # Panics
///
/// When the set cannot be started or healed: a broken harness, not a finding.
pub async fn run(schedule: &Schedule) -> Report {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql"))
        .await
        .expect("mariadb pods");
    let table = format!(
        "CREATE TABLE `{}`.soak (k VARCHAR(64) PRIMARY KEY, v BIGINT NOT NULL)",
        set.database()
    );
    set.execute(0, &[&table]).await.expect("soak table");
    set.wait_for_replication().await.expect("table replicated");
    let discovery = crate::discovery(&cluster);
    let (config, bounds) = sdk_config(&set);
    let cluster_sdk = MySqlRouter::connect(&discovery, set.service_name().as_str(), config)
        .await
        .expect("cluster");

    let stop = Arc::new(AtomicBool::new(false));
    let clients = vec![
        tokio::spawn(read_your_writes(cluster_sdk.clone(), Arc::clone(&stop))),
        tokio::spawn(executor(cluster_sdk.clone(), Arc::clone(&stop))),
        tokio::spawn(transactions(cluster_sdk.clone(), Arc::clone(&stop))),
        tokio::spawn(reader(cluster_sdk.clone(), Arc::clone(&stop))),
    ];
    let mut target = MariaDb {
        cluster: &cluster,
        set: &set,
        primary: 0,
    };
    let faults = play(schedule, &mut target).await;
    let primary = target.primary;
    stop.store(true, Ordering::SeqCst);
    let mut history = Vec::new();
    for client in clients {
        history.extend(client.await.expect("client"));
    }

    set.wait_for_replication().await.expect("healed");
    let held = target.keys(primary).await;
    check(&history, &faults, bounds, |key| held.contains(key))
}

const INSERT: &str = "INSERT INTO soak (k, v) VALUES (?, ?)";
const SELECT: &str = "SELECT v FROM soak WHERE k = ?";

fn key(writer: usize, n: u64) -> String {
    format!("soak:{writer}:{n}")
}

/// The cluster's primary now, by hostname, and the probe round that named it.
fn leader(cluster: &MySqlRouter) -> (Option<String>, Instant) {
    let topology = cluster.topology();
    let primary = topology.leader_pod().map(|p| p.peer.hostname().to_owned());
    (primary, topology.probed_at)
}

/// Writes with `execute_with_token` (the write and its position on one connection) and
/// reads the row back with the token (`query_after`): the read must see it.
async fn read_your_writes(cluster: MySqlRouter, stop: Arc<AtomicBool>) -> Vec<Request> {
    requests(&stop, |n| {
        let cluster = cluster.clone();
        async move {
            let mut write = Pending::start(Kind::Write, key(0, n));
            write.leader(0, leader(&cluster));
            let insert = Statement::new(INSERT).with_params((key(0, n), n));
            let written = cluster.execute_with_token(insert).await;
            write.leader(1, leader(&cluster));
            let (reply, token) = match written {
                Ok(written) => written,
                Err(e) => {
                    if let Some(pod) = e.pod() {
                        write.pod(pod.hostname());
                    }
                    return vec![write.finish(Outcome::typed(&e))];
                }
            };
            write.pod(reply.pod.hostname());
            let write = write.finish(Outcome::Ok);
            let mut read = Pending::start(Kind::ReadYourWrite, key(0, n));
            read.leader(0, (write.pod.clone(), Instant::now()));
            let select = Statement::new(SELECT).with_params((key(0, n),));
            let read = match cluster.query_after(&token, select).await {
                Ok(reply) => {
                    read.pod(reply.pod.hostname());
                    read.finish(if reply.rows.is_empty() {
                        Outcome::Missed
                    } else {
                        Outcome::Ok
                    })
                }
                Err(e) => read.finish(Outcome::typed(&e)),
            };
            vec![write, read]
        }
    })
    .await
}

/// Writes through `execute`: typed errors, what was not applied sent to the new primary.
async fn executor(cluster: MySqlRouter, stop: Arc<AtomicBool>) -> Vec<Request> {
    requests(&stop, |n| {
        let cluster = cluster.clone();
        async move {
            let mut write = Pending::start(Kind::Write, key(1, n));
            write.leader(0, leader(&cluster));
            let insert = Statement::new(INSERT).with_params((key(1, n), n));
            let written = cluster.execute(insert).await;
            write.leader(1, leader(&cluster));
            vec![match written {
                Ok(reply) => {
                    write.pod(reply.pod.hostname());
                    write.finish(Outcome::Ok)
                }
                Err(e) => {
                    if let Some(pod) = e.pod() {
                        write.pod(pod.hostname());
                    }
                    write.finish(Outcome::typed(&e))
                }
            }]
        }
    })
    .await
}

/// Runs `BEGIN`, an insert and `COMMIT` on a session it keeps until an error ends it,
/// then takes a new one from `primary()`. A failed transaction is not run again: the
/// checker holds its error to what it says (applied nothing, or an unknown outcome).
async fn transactions(cluster: MySqlRouter, stop: Arc<AtomicBool>) -> Vec<Request> {
    let held: Arc<tokio::sync::Mutex<Option<PodConnection>>> = Arc::default();
    requests(&stop, |n| {
        let (cluster, held) = (cluster.clone(), Arc::clone(&held));
        async move {
            let mut transaction = Pending::start(Kind::Transaction, key(2, n));
            transaction.leader(0, leader(&cluster));
            let mut held = held.lock().await;
            let session = match held.take() {
                Some(session) => session,
                None => match cluster.primary().await {
                    Ok(session) => session,
                    Err(e) => return vec![transaction.finish(Outcome::typed(&e))],
                },
            };
            let session = held.insert(session);
            transaction.pod(session.pod().hostname());
            let insert = Statement::new(INSERT).with_params((key(2, n), n));
            let mut committed = Ok(());
            for statement in [Statement::new("BEGIN"), insert, Statement::new("COMMIT")] {
                if let Err(e) = cluster.run_on(session, statement).await {
                    committed = Err(e);
                    break;
                }
            }
            transaction.leader(1, leader(&cluster));
            vec![match committed {
                Ok(()) => transaction.finish(Outcome::Ok),
                Err(e) => {
                    // The session ends with its error; a refused transaction still open
                    // on it is rolled back when the pool resets the connection.
                    held.take();
                    transaction.finish(Outcome::typed(&e))
                }
            }]
        }
    })
    .await
}

/// Reads rows of the `execute` writer through `query` (a fit replica, else the primary).
/// Replication is asynchronous, so what it answers is not checked, only that it answers.
async fn reader(cluster: MySqlRouter, stop: Arc<AtomicBool>) -> Vec<Request> {
    requests(&stop, |n| {
        let cluster = cluster.clone();
        async move {
            let mut read = Pending::start(Kind::Read, key(1, n));
            read.leader(0, leader(&cluster));
            let select = Statement::new(SELECT).with_params((key(1, n),));
            vec![match cluster.query(select).await {
                Ok(reply) => {
                    read.pod(reply.pod.hostname());
                    read.finish(Outcome::Ok)
                }
                Err(e) => read.finish(Outcome::typed(&e)),
            }]
        }
    })
    .await
}

/// The set under the soak, and which pod is primary now.
struct MariaDb<'a> {
    cluster: &'a Cluster,
    set: &'a MariaDbStatefulSet,
    primary: u32,
}

impl MariaDb<'_> {
    fn hostname(ordinal: u32) -> String {
        format!("mysql-{ordinal}")
    }

    /// The soak keys pod `ordinal` holds.
    async fn keys(&self, ordinal: u32) -> HashSet<String> {
        let mut conn = self.set.admin(ordinal).await.expect("admin connection");
        let select = format!("SELECT k FROM `{}`.soak", self.set.database());
        conn.query(select)
            .await
            .expect("soak keys")
            .into_iter()
            .collect()
    }
}

impl Target for MariaDb<'_> {
    async fn inject(&mut self, fault: Fault) -> Hit {
        let (set, primary) = (self.set, self.primary);
        let replica = (primary + 1) % 3;
        let mut hit = Hit {
            pod: Self::hostname(primary),
            stranded: 0,
            survivors: None,
        };
        match fault {
            Fault::KillLeader => {
                set.kill(primary).expect("kill");
                set.promote(replica).await.expect("promote");
                hit.survivors = Some(Arc::new(self.keys(replica).await));
                set.restart(primary).await.expect("restart as a clone");
                self.primary = replica;
            }
            Fault::Freeze { leader } => {
                let pod = if leader { primary } else { replica };
                hit.pod = Self::hostname(pod);
                set.freeze(pod).expect("freeze");
                tokio::time::sleep(FREEZE).await;
                set.thaw(pod).expect("thaw");
            }
            Fault::FailoverFromFrozen => {
                set.freeze(primary).expect("freeze");
                tokio::time::sleep(FREEZE).await;
                set.promote(replica)
                    .await
                    .expect("promote over the frozen primary");
                set.thaw(primary).expect("thaw");
                tokio::time::sleep(UNFENCED).await;
                let theirs = self.keys(replica).await;
                hit.stranded = self.keys(primary).await.difference(&theirs).count();
                hit.survivors = Some(Arc::new(theirs));
                set.rejoin(primary).await.expect("rejoin");
                self.primary = replica;
            }
            Fault::Switchover => {
                set.promote(replica).await.expect("switchover");
                self.primary = replica;
            }
            Fault::DnsServFail | Fault::DnsSilence => return dns_fault(self.cluster, fault).await,
            Fault::ReplacePod => {
                hit.pod = Self::hostname(replica);
                set.kill(replica).expect("kill");
                set.statefulset().replace_pod(replica).expect("new IP");
                set.restart(replica).await.expect("restart at the new IP");
            }
        }
        hit
    }
}
