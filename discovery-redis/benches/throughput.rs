//! GET/SET throughput and p99 through the router vs a direct redis-rs multiplexed
//! connection to the same pod, 64 concurrent tasks, same run. Target: ratio >= 0.95.
//!
//! `cargo bench -p discovery-redis --bench throughput`

mod common;

use std::time::{Duration, Instant};

use discovery_redis::MasterConnection;
use discovery_redis::RedisConfig;
use discovery_redis::service::ReplicaService;
use discovery_testkit::redis::RedisSpec;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use tower::{Service, ServiceExt};

const TASKS: usize = 64;
const WINDOW: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// One caller's handle: each of the 64 tasks holds its own, as an application would.
#[derive(Clone)]
enum Client {
    Direct(MultiplexedConnection),
    Master(MasterConnection),
    Reads(ReplicaService),
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
            Client::Master(conn) => {
                let _: Value = cmd.query_async(conn).await.expect("master");
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

/// Runs `op` from 64 tasks, each with its own clone of `client`, for the window;
/// returns ops/s and p99 latency.
async fn measure(client: &Client, op: Op) -> (f64, Duration) {
    let deadline = Instant::now() + WINDOW;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = t * 1_000_000;
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
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort_unstable();
    (
        all.len() as f64 / WINDOW.as_secs_f64(),
        common::quantile(&all, 0.99),
    )
}

fn report(name: &str, baseline: &[(f64, Duration)], ours: &[(f64, Duration)]) {
    let median = |runs: &[(f64, Duration)]| {
        let mut ops: Vec<f64> = runs.iter().map(|r| r.0).collect();
        ops.sort_by(f64::total_cmp);
        let mut p99: Vec<Duration> = runs.iter().map(|r| r.1).collect();
        p99.sort_unstable();
        (ops[ops.len() / 2], p99[p99.len() / 2])
    };
    let (b_ops, b_p99) = median(baseline);
    let (o_ops, o_p99) = median(ours);
    println!(
        "{name}: direct {b_ops:.0} ops/s p99 {b_p99:?} | router {o_ops:.0} ops/s p99 {o_p99:?} | ratio {:.3} (target >= 0.95)",
        o_ops / b_ops
    );
}

fn main() {
    common::runtime().block_on(async {
        let bench =
            common::start(RedisSpec::new("redis").replicas(2), RedisConfig::default()).await;
        let router = bench.router.clone();
        let master_direct = bench.redis.connect(0).await.expect("direct master");
        let replica_direct = bench.redis.connect(1).await.expect("direct replica");
        let master = router.master().await.expect("master");
        let mut seed = master.clone();
        for i in 0..1000 {
            seed.set::<_, _, ()>(format!("k{i}"), i)
                .await
                .expect("seed");
        }
        bench
            .redis
            .wait_for_replication()
            .await
            .expect("replicated");

        // One replica only (replicas(2) = master + 1 replica), so the balanced service and
        // the direct connection hit the same pod.
        let clients = [
            Client::Direct(master_direct),
            Client::Master(master),
            Client::Direct(replica_direct),
            // Each task clones its own balancer over the shared connections.
            Client::Reads(router.replica_service()),
        ];
        let ops = [Op::Set, Op::Set, Op::Get, Op::Get];
        let mut runs: [Vec<(f64, Duration)>; 4] = Default::default();
        for _ in 0..ROUNDS {
            // Interleaved so that drift on the shared 2-core machine hits both sides alike.
            for (i, client) in clients.iter().enumerate() {
                runs[i].push(measure(client, ops[i]).await);
            }
        }
        let [sd, sr, gd, gr] = runs;
        report("SET via master()", &sd, &sr);
        report("GET via balanced replica service", &gd, &gr);
    });
}
