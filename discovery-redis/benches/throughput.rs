//! GET/SET throughput and p99 through the router vs a direct redis-rs multiplexed
//! connection to the same pod, 64 concurrent tasks, same run. Target: ratio >= 0.95.
//!
//! `cargo bench -p headless-discovery-redis --bench throughput`
//!
//! With `-- sequential <path> <count>` it instead sends `count` requests one at a time
//! through one path and exits, for counting instructions per request with callgrind
//! (BENCHMARKS.md shows how): GETs for `direct`, `balanced`, `pod` and `balanced-two`,
//! SETs for `direct-set` and `master-set`.
//!
//! Client and server share two cores, and a loopback Redis run's throughput drifts by
//! tens of percent within seconds (how many requests the multiplexed connection batches
//! per write depends on scheduling). So the paths take turns in short windows, which one
//! goes first alternating, each of ours is paired with the direct window of its round,
//! and the median of the paired ratios is reported, for throughput and p99 alike.

mod common;

use std::time::{Duration, Instant};

use headless_discovery_redis::LeaderConnection;
use headless_discovery_redis::RedisConfig;
use headless_discovery_redis::service::{PodService, ReplicaService};
use headless_discovery_testkit::measure::{Sequential, Window, bench_runtime, compare};
use headless_discovery_testkit::redis::RedisSpec;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use tower::{Service, ServiceExt};

const TASKS: usize = 64;
const WINDOW: Duration = Duration::from_millis(250);
const ROUNDS: usize = 40;
/// Task `t` numbers its requests from `t * TASK_STRIDE`.
const TASK_STRIDE: usize = 1_000_000;

/// One caller's handle: each of the 64 tasks holds its own, as an application would.
#[derive(Clone)]
enum Client {
    Direct(MultiplexedConnection),
    /// Direct connections to several pods, each task keeping to one (by task index): the
    /// hand-written way to spread reads, without load awareness.
    Spread(Vec<MultiplexedConnection>),
    Master(LeaderConnection),
    Reads(ReplicaService),
    Pod(PodService),
}

#[derive(Clone, Copy)]
enum Op {
    Set,
    Get,
}

impl Client {
    async fn run(&mut self, op: Op, i: usize) {
        let key = format!("k{}", i % 1000);
        let mut cmd = match op {
            Op::Set => redis::cmd("SET"),
            Op::Get => redis::cmd("GET"),
        };
        cmd.arg(&key);
        if let Op::Set = op {
            cmd.arg(i);
        }
        match self {
            Client::Direct(conn) => {
                let _: Value = cmd.query_async(conn).await.expect("direct");
            }
            Client::Spread(conns) => {
                let pod = i / TASK_STRIDE % conns.len();
                let conn = &mut conns[pod];
                let _: Value = cmd.query_async(conn).await.expect("direct");
            }
            Client::Master(conn) => {
                let _: Value = cmd.query_async(conn).await.expect("master");
            }
            Client::Pod(pod) => {
                pod.ready()
                    .await
                    .expect("ready")
                    .call(cmd)
                    .await
                    .expect("pod");
            }
            Client::Reads(reads) => {
                reads
                    .ready()
                    .await
                    .expect("ready")
                    .call(cmd)
                    .await
                    .expect("read");
            }
        }
    }
}

/// Runs `op` from 64 tasks, each with its own clone of `client`, for one window.
async fn measure(client: &Client, op: Op) -> Window {
    let deadline = Instant::now() + WINDOW;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = t * TASK_STRIDE;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    client.run(op, i).await;
                    latencies.push(started.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    Window::from_latencies(latencies, WINDOW)
}

/// `ROUNDS` pairs of windows of `direct` and `ours`, printed as one line.
async fn compare_and_report(name: &str, direct: &Client, ours: &Client, op: Op) {
    let comparison = compare(ROUNDS, || measure(direct, op), || measure(ours, op)).await;
    println!("{name}: {comparison} (target >= 0.95 both)");
}

/// A redis-rs connection straight to pod `ordinal`.
async fn direct(bench: &common::Bench, ordinal: u32) -> MultiplexedConnection {
    bench
        .redis
        .connect(ordinal)
        .await
        .expect("direct connection")
}

/// Starts a Redis StatefulSet and writes keys `k0`..`k999` on its master, replicated.
async fn seeded(spec: RedisSpec) -> common::Bench {
    let bench = common::start(spec, RedisConfig::default()).await;
    let mut master = bench.router.master().await.expect("master");
    for i in 0..1000 {
        master
            .set::<_, _, ()>(format!("k{i}"), i)
            .await
            .expect("seed");
    }
    bench
        .redis
        .wait_for_replication()
        .await
        .expect("replicated");
    bench
}

fn main() {
    let usage = "sequential <direct|balanced|pod|balanced-two|direct-set|master-set> <count>";
    let sequential = Sequential::from_args(usage);
    let runtime = bench_runtime(sequential.is_some());
    runtime.block_on(async {
        // One replica (replicas(2) = master + 1 replica), so the balanced service and the
        // direct connection hit the same pod; and a set with two, where the balancer
        // chooses and measures.
        let bench = seeded(RedisSpec::new("redis").replicas(2)).await;
        let pair = seeded(RedisSpec::new("cache").replicas(3)).await;
        let router = bench.router.clone();
        let replica = router
            .topology()
            .by_ordinal(1)
            .map(|pod| pod.peer.clone())
            .expect("pod 1 discovered");
        let clients = [
            Client::Direct(direct(&bench, 0).await),
            Client::Master(router.master().await.expect("master")),
            Client::Direct(direct(&bench, 1).await),
            // Each task clones its own balancer over the shared connections.
            Client::Reads(router.replica_service()),
            // The same pod through its `PodService` alone, to tell the balancer's share
            // of the cost from the pod service's.
            Client::Pod(router.pod_service(&replica)),
            Client::Spread(vec![direct(&pair, 1).await, direct(&pair, 2).await]),
            Client::Reads(pair.router.replica_service()),
        ];
        if let Some(Sequential { path, count }) = sequential {
            // One caller, one request at a time: for instruction counts under callgrind,
            // which unlike wall time do not depend on what else the machine is doing.
            let (index, op) = match path.as_str() {
                "direct" => (2, Op::Get),
                "balanced" => (3, Op::Get),
                "pod" => (4, Op::Get),
                "balanced-two" => (6, Op::Get),
                "direct-set" => (0, Op::Set),
                "master-set" => (1, Op::Set),
                other => panic!(
                    "unknown path {other:?}: direct, balanced, pod, balanced-two, direct-set or master-set"
                ),
            };
            // In a spawned task, as the 64 callers below are, not in `block_on` itself.
            let mut client = clients[index].clone();
            tokio::spawn(async move {
                for i in 0..count {
                    client.run(op, i).await;
                }
            })
            .await
            .expect("sequential caller");
            return;
        }
        compare_and_report("SET via master()", &clients[0], &clients[1], Op::Set).await;
        // The replica has applied every SET before reads are timed.
        bench
            .redis
            .wait_for_replication()
            .await
            .expect("replicated");
        let get = |name, direct, ours| compare_and_report(name, direct, ours, Op::Get);
        get("GET via balanced replica service", &clients[2], &clients[3]).await;
        get(
            "GET via one pod's PodService (no balancer)",
            &clients[2],
            &clients[4],
        )
        .await;
        get(
            "GET via balanced service over two replicas (vs direct, each task on one of them)",
            &clients[5],
            &clients[6],
        )
        .await;
    });
}
