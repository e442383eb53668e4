//! GET/SET throughput and p99 through the router vs a direct redis-rs multiplexed
//! connection to the same pod, 64 concurrent tasks, same run. Target: ratio >= 0.95.
//!
//! `cargo bench -p discovery-redis --bench throughput`

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use discovery_redis::RedisConfig;
use discovery_testkit::redis::RedisSpec;
use redis::AsyncCommands;
use tower::{Service, ServiceBuilder, ServiceExt};

const TASKS: usize = 64;
const WINDOW: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

type Op = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs `op` from 64 tasks for the window; returns ops/s and p99 latency.
async fn measure(op: Op) -> (f64, Duration) {
    let deadline = Instant::now() + WINDOW;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = t * 1_000_000;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    op(i).await;
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

        let set_direct: Op = Arc::new(move |i| {
            let mut conn = master_direct.clone();
            Box::pin(async move {
                conn.set::<_, _, ()>(format!("k{}", i % 1000), i)
                    .await
                    .expect("set")
            })
        });
        let set_router: Op = Arc::new(move |i| {
            let mut conn = master.clone();
            Box::pin(async move {
                conn.set::<_, _, ()>(format!("k{}", i % 1000), i)
                    .await
                    .expect("set")
            })
        });
        let get_direct: Op = Arc::new(move |i| {
            let mut conn = replica_direct.clone();
            Box::pin(async move {
                let _: Option<i64> = conn.get(format!("k{}", i % 1000)).await.expect("get");
            })
        });
        // One replica only (replicas(2) = master + 1 replica), so the balanced service and
        // the direct connection hit the same pod.
        let reads = ServiceBuilder::new()
            .buffer(1024)
            .service(router.replica_service());
        let get_router: Op = Arc::new(move |i| {
            let mut reads = reads.clone();
            Box::pin(async move {
                let mut cmd = redis::cmd("GET");
                cmd.arg(format!("k{}", i % 1000));
                reads
                    .ready()
                    .await
                    .expect("ready")
                    .call(cmd)
                    .await
                    .expect("get");
            })
        });

        let (mut sd, mut sr, mut gd, mut gr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            // Interleaved so that drift on the shared 2-core machine hits both sides alike.
            sd.push(measure(set_direct.clone()).await);
            sr.push(measure(set_router.clone()).await);
            gd.push(measure(get_direct.clone()).await);
            gr.push(measure(get_router.clone()).await);
        }
        report("SET via master()", &sd, &sr);
        report("GET via balanced replica service", &gd, &gr);
    });
}
