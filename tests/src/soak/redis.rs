//! The soak on a real Redis set: writers through `RedisRouter::master()`, a reader through
//! `replica(&ReadFrom::Replica)`, faults from a [`Schedule`], then every acknowledged key
//! looked up on the final master.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use discovery_redis::{ReadFrom, RedisConfig, RedisRouter};
use discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
use discovery_testkit::{Cluster, Fault as DnsFault};
use redis::AsyncCommands;

use super::{Fault, FaultWindow, Outcome, Report, Schedule, Write, check, check_reads};

/// The SDK settings the soak runs with, and the bound each write must meet: the wait
/// for a master, a connect and a response, and one retry after a refusal.
fn sdk_config() -> (RedisConfig, Duration) {
    let mut config = RedisConfig::default();
    config.probe_interval = Duration::from_millis(200);
    config.failover_wait = Duration::from_secs(3);
    config.connect_timeout = Duration::from_millis(500);
    config.response_timeout = Duration::from_secs(1);
    let bound = config.failover_wait + (config.connect_timeout + config.response_timeout) * 2;
    (config, bound)
}

/// Runs one schedule with `writers` concurrent writers and checks the history.
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
    let (config, bound) = sdk_config();
    let router = RedisRouter::connect(&discovery, set.service_name().as_str(), config)
        .await
        .expect("router");

    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(writer(router.clone(), w, Arc::clone(&stop))))
        .collect();
    let reads = tokio::spawn(reader(router.clone(), Arc::clone(&stop)));
    let mut faults = Vec::new();
    let mut master = 0u32;
    for (pause, fault) in &schedule.steps {
        tokio::time::sleep(*pause).await;
        let started = Instant::now();
        master = inject(&cluster, &set, master, *fault).await;
        faults.push(FaultWindow {
            fault: *fault,
            started,
            healed: Instant::now(),
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut writes = Vec::new();
    for task in tasks {
        writes.extend(task.await.expect("writer"));
    }
    let reads = reads.await.expect("reader");

    set.wait_for_replication().await.expect("healed");
    let mut final_master = set.connect(master).await.expect("final master");
    let mut held = std::collections::HashSet::new();
    for write in writes.iter().filter(|w| w.outcome == Outcome::Ok) {
        let value: Option<String> = final_master.get(&write.key).await.expect("GET");
        if value.is_some() {
            held.insert(write.key.clone());
        }
    }
    let mut report = check(&writes, &faults, bound, |key| held.contains(key));
    check_reads(&mut report, &reads, &faults, bound);
    report
}

/// Reads recent keys from replicas (`ReadFrom::Replica`: a failure when none is fit, so
/// no silent fallback hides a replica problem) until told to stop.
async fn reader(router: RedisRouter, stop: Arc<AtomicBool>) -> Vec<Write> {
    requests(&stop, |n| {
        let router = router.clone();
        async move {
            let key = format!("soak:0:{n}");
            let mut replica = router.replica(&ReadFrom::Replica).await?;
            let pod = replica.pod().hostname().to_owned();
            let read = replica.get::<_, Option<u64>>(&key).await.map(|_| ());
            Ok((key, pod, read))
        }
    })
    .await
}

/// Writes unique keys through the router's master until told to stop.
async fn writer(router: RedisRouter, id: usize, stop: Arc<AtomicBool>) -> Vec<Write> {
    requests(&stop, |n| {
        let router = router.clone();
        async move {
            let key = format!("soak:{id}:{n}");
            let mut master = router.master().await?;
            let pod = master.pod().hostname().to_owned();
            let written = master.set::<_, _, ()>(&key, n).await;
            Ok((key, pod, written))
        }
    })
    .await
}

/// The answer of one request: its key and pod, and the command's result; or the error
/// that kept it from reaching a pod.
type Sent = Result<(String, String, redis::RedisResult<()>), discovery_redis::Error>;

/// Sends request `n` = 0, 1, … every 5 ms until `stop`, recording each with its timing.
async fn requests<F, Fut>(stop: &AtomicBool, mut request: F) -> Vec<Write>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Sent>,
{
    let mut history = Vec::new();
    for n in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let started = Instant::now();
        let (key, pod, outcome) = match request(n).await {
            Ok((key, pod, Ok(()))) => (key, Some(pod), Outcome::Ok),
            Ok((key, pod, Err(e))) => (key, Some(pod), Outcome::Failed(e.to_string())),
            Err(e) => (format!("request {n}"), None, Outcome::Failed(e.to_string())),
        };
        history.push(Write {
            key,
            pod,
            started,
            ended: Instant::now(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    history
}

/// Applies one fault and heals it; returns the master afterwards.
async fn inject(cluster: &Cluster, set: &RedisStatefulSet, master: u32, fault: Fault) -> u32 {
    let replica = (master + 1) % 3;
    match fault {
        Fault::KillLeader => {
            set.kill(master).expect("kill");
            set.promote(replica).await.expect("promote");
            set.restart(master).await.expect("restart");
            set.make_replica_of(master, replica).await.expect("repoint");
            replica
        }
        Fault::Freeze { leader } => {
            let pod = if leader { master } else { replica };
            set.freeze(pod).expect("freeze");
            tokio::time::sleep(Duration::from_millis(400)).await;
            set.thaw(pod).expect("thaw");
            master
        }
        Fault::Switchover => {
            set.switchover(replica, Duration::from_secs(2))
                .await
                .expect("switchover");
            replica
        }
        Fault::DnsServFail | Fault::DnsSilence => {
            cluster.set_fault(if fault == Fault::DnsServFail {
                DnsFault::ServFail
            } else {
                DnsFault::NoAnswer
            });
            tokio::time::sleep(Duration::from_millis(600)).await;
            cluster.set_fault(DnsFault::None);
            master
        }
        Fault::ReplacePod => {
            set.kill(replica).expect("kill");
            set.statefulset().replace_pod(replica).expect("new IP");
            set.restart(replica).await.expect("restart at the new IP");
            set.make_replica_of(replica, master).await.expect("repoint");
            master
        }
    }
}
