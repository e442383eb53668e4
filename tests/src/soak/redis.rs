//! The soak on a real Redis set: writers through `RedisRouter::master()`, a reader
//! through `replica(&ReadPolicy::Replica)`, both with typed errors
//! (`LeaderConnection::query`, `PodConnection::query`), and a read-your-writes client
//! (`query_with_token`, then `query_after`); faults from a [`Schedule`]; then every
//! acknowledged key looked up on the final master.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use headless_discovery_redis::{ReadPolicy, RedisConfig, RedisRouter};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
use redis::AsyncCommands;

use super::{
    Bounds, FREEZE, Fault, Hit, Kind, Outcome, Pending, Report, Schedule, Target, UNFENCED, check,
    dns_fault, play, requests,
};

/// The SDK settings the soak runs with, and each path's bound: a write waits for a
/// master and sends again what was not applied, within `failover_wait` of its start,
/// plus the attempt under way at the deadline; a replica read connects and waits for
/// the reply once; a read-your-writes read connects to a replica, waits for the write
/// there, and may go to the master instead.
fn sdk_config() -> (RedisConfig, Bounds) {
    let mut config = RedisConfig::default();
    config.roles.probe_interval = Duration::from_millis(200);
    config.roles.failover_wait = Duration::from_secs(3);
    config.connect_timeout = Duration::from_millis(500);
    config.response_timeout = Duration::from_secs(1);
    config.read_your_writes_wait = Duration::from_millis(500);
    let attempt = config.connect_timeout + config.response_timeout;
    let bounds = Bounds {
        write: config.roles.failover_wait + attempt * 2,
        read: attempt,
        read_your_writes: attempt * 2 + config.read_your_writes_wait,
        // No transactions here.
        transaction: Duration::ZERO,
    };
    (config, bounds)
}

/// Runs one schedule with `writers` concurrent writers and a replica reader, and checks
/// the history.
///
/// # Panics
///
/// When the set cannot be started or healed: a broken harness, not a finding.
pub async fn run(schedule: &Schedule, writers: usize) -> Report {
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = RedisStatefulSet::start(&cluster, RedisSpec::new("redis"))
        .await
        .expect("redis pods");
    let discovery = crate::discovery(&cluster);
    let (config, bounds) = sdk_config();
    let router = RedisRouter::connect(&discovery, set.service_name().as_str(), config)
        .await
        .expect("router");

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(writer(router.clone(), w, Arc::clone(&stop))))
        .collect();
    clients.push(tokio::spawn(reader(router.clone(), Arc::clone(&stop))));
    clients.push(tokio::spawn(read_your_writes(
        router.clone(),
        writers,
        Arc::clone(&stop),
    )));
    let mut target = Redis {
        cluster: &cluster,
        set: &set,
        master: 0,
    };
    let faults = play(schedule, &mut target).await;
    let master = target.master;
    stop.store(true, Ordering::SeqCst);
    let mut history = Vec::new();
    for client in clients {
        history.extend(client.await.expect("client"));
    }

    set.wait_for_replication().await.expect("healed");
    let mut final_master = set.connect(master).await.expect("final master");
    let mut held = HashSet::new();
    for write in history
        .iter()
        .filter(|r| r.kind == Kind::Write && r.outcome == Outcome::Ok)
    {
        let value: Option<String> = final_master.get(&write.key).await.expect("GET");
        if value.is_some() {
            held.insert(write.key.clone());
        }
    }
    check(&history, &faults, bounds, |key| held.contains(key))
}

/// The router's master now, by hostname, and the probe round that named it.
fn leader(router: &RedisRouter) -> (Option<String>, Instant) {
    let topology = router.topology();
    let master = topology.leader_pod().map(|m| m.peer.hostname().to_owned());
    (master, topology.probed_at)
}

/// Writes unique keys through the router's master until told to stop.
async fn writer(router: RedisRouter, id: usize, stop: Arc<AtomicBool>) -> Vec<super::Request> {
    requests(&stop, |n| {
        let router = router.clone();
        async move {
            let mut write = Pending::start(Kind::Write, write_key(id, n));
            let mut master = match router.master().await {
                Ok(master) => master,
                Err(e) => return vec![write.finish(Outcome::typed(&e))],
            };
            write.leader(0, leader(&router));
            let sent = master
                .query(redis::cmd("SET").arg(write_key(id, n)).arg(n))
                .await;
            write.leader(1, leader(&router));
            write.pod(master.pod().hostname());
            vec![write.finish(sent.map_or_else(|e| Outcome::typed(&e), |_| Outcome::Ok))]
        }
    })
    .await
}

/// Writes with `query_with_token` and reads each key back with its token
/// (`query_after`): the read must see it.
async fn read_your_writes(
    router: RedisRouter,
    id: usize,
    stop: Arc<AtomicBool>,
) -> Vec<super::Request> {
    requests(&stop, |n| {
        let router = router.clone();
        async move {
            let key = write_key(id, n);
            let mut write = Pending::start(Kind::Write, key.clone());
            let mut master = match router.master().await {
                Ok(master) => master,
                Err(e) => return vec![write.finish(Outcome::typed(&e))],
            };
            write.leader(0, leader(&router));
            let sent = master
                .query_with_token(redis::cmd("SET").arg(&key).arg(n))
                .await;
            write.leader(1, leader(&router));
            write.pod(master.pod().hostname());
            let token = match sent {
                Ok((_, token)) => token,
                Err(e) => return vec![write.finish(Outcome::typed(&e))],
            };
            let write = write.finish(Outcome::Ok);
            let mut read = Pending::start(Kind::ReadYourWrite, key.clone());
            read.leader(0, (write.pod.clone(), Instant::now()));
            let read = match router.replica_after(&token).await {
                Ok(mut pod) => {
                    read.pod(pod.pod().hostname());
                    match pod.query(redis::cmd("GET").arg(&key)).await {
                        Ok(redis::Value::Nil) => read.finish(Outcome::Missed),
                        Ok(_) => read.finish(Outcome::Ok),
                        Err(e) => read.finish(Outcome::typed(&e)),
                    }
                }
                Err(e) => read.finish(Outcome::typed(&e)),
            };
            vec![write, read]
        }
    })
    .await
}

fn write_key(id: usize, n: u64) -> String {
    format!("soak:{id}:{n}")
}

/// Reads recent keys from replicas (`ReadPolicy::Replica`: a failure when none is fit, so
/// no silent fallback hides a replica problem) until told to stop. Replication is
/// asynchronous, so what they answer is not checked, only that they answer.
async fn reader(router: RedisRouter, stop: Arc<AtomicBool>) -> Vec<super::Request> {
    requests(&stop, |n| {
        let router = router.clone();
        async move {
            let mut read = Pending::start(Kind::Read, write_key(0, n));
            read.leader(0, leader(&router));
            let mut replica = match router.read(&ReadPolicy::Replica).await {
                Ok(replica) => replica,
                Err(e) => return vec![read.finish(Outcome::typed(&e))],
            };
            read.pod(replica.pod().hostname());
            let answered = replica.query(redis::cmd("GET").arg(write_key(0, n))).await;
            vec![read.finish(answered.map_or_else(|e| Outcome::typed(&e), |_| Outcome::Ok))]
        }
    })
    .await
}

/// The set under the soak, and which pod is master now.
struct Redis<'a> {
    cluster: &'a Cluster,
    set: &'a RedisStatefulSet,
    master: u32,
}

impl Redis<'_> {
    fn hostname(&self, ordinal: u32) -> String {
        format!("redis-{ordinal}")
    }

    /// The soak keys pod `ordinal` holds.
    async fn keys(&self, ordinal: u32) -> HashSet<String> {
        let mut conn = self.set.connect(ordinal).await.expect("connect");
        let keys: Vec<String> = conn.keys("soak:*").await.expect("KEYS");
        keys.into_iter().collect()
    }
}

impl Target for Redis<'_> {
    async fn inject(&mut self, fault: Fault) -> Hit {
        let (set, master) = (self.set, self.master);
        let replica = (master + 1) % 3;
        let mut hit = Hit {
            pod: self.hostname(master),
            stranded: 0,
            survivors: None,
        };
        match fault {
            Fault::KillLeader => {
                set.kill(master).expect("kill");
                set.promote(replica).await.expect("promote");
                hit.survivors = Some(Arc::new(self.keys(replica).await));
                set.restart(master).await.expect("restart");
                set.make_replica_of(master, replica).await.expect("repoint");
                self.master = replica;
            }
            Fault::Freeze { leader } => {
                let pod = if leader { master } else { replica };
                hit.pod = self.hostname(pod);
                set.freeze(pod).expect("freeze");
                tokio::time::sleep(FREEZE).await;
                set.thaw(pod).expect("thaw");
            }
            Fault::FailoverFromFrozen => {
                set.freeze(master).expect("freeze");
                tokio::time::sleep(FREEZE).await;
                set.promote(replica)
                    .await
                    .expect("promote over the frozen master");
                set.thaw(master).expect("thaw");
                tokio::time::sleep(UNFENCED).await;
                let theirs = self.keys(replica).await;
                hit.stranded = self.keys(master).await.difference(&theirs).count();
                hit.survivors = Some(Arc::new(theirs));
                set.rejoin(master).await.expect("rejoin");
                self.master = replica;
            }
            Fault::Switchover => {
                set.switchover(replica, Duration::from_secs(2))
                    .await
                    .expect("switchover");
                self.master = replica;
            }
            Fault::DnsServFail | Fault::DnsSilence => return dns_fault(self.cluster, fault).await,
            Fault::ReplacePod => {
                hit.pod = self.hostname(replica);
                set.kill(replica).expect("kill");
                set.statefulset().replace_pod(replica).expect("new IP");
                set.restart(replica).await.expect("restart at the new IP");
                set.make_replica_of(replica, master).await.expect("repoint");
            }
        }
        hit
    }
}
