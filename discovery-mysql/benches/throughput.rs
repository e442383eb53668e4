//! Point-SELECT throughput and p99 through `replica()` and `primary()` vs a direct
//! mysql_async `Pool` to the same pod, same pool limits, 16 concurrent tasks, same run.
//! Target: ratio >= 0.95.
//!
//! `cargo bench -p headless-discovery-mysql --bench throughput`
//!
//! The paths take turns in short windows, which one goes first alternating, and the
//! median of the paired ratios is reported (`headless_discovery_testkit::measure` says why).
//!
//! With `-- sequential <direct|primary|replica> <count>` it instead runs `count` SELECTs
//! one at a time through one path and exits, for counting instructions per request with
//! callgrind (BENCHMARKS.md shows how).

mod common;

use std::time::{Duration, Instant};

use headless_discovery_mysql::MySqlRouter;
use headless_discovery_testkit::measure::{Sequential, Window, bench_runtime, compare};
use headless_discovery_testkit::mysql::MariaDbSpec;
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, PoolConstraints, PoolOpts};

const TASKS: usize = 16;
const WINDOW: Duration = Duration::from_millis(500);
const ROUNDS: usize = 30;
const POOL_MAX: usize = 32;

#[derive(Clone)]
enum Client {
    Direct(Pool),
    Primary(MySqlRouter),
    Replica(MySqlRouter),
}

impl Client {
    /// Checks a connection out, runs one point SELECT, returns the connection.
    async fn select(&self, id: u64) {
        let query = "SELECT v FROM t WHERE id = ?";
        let row: Option<u64> = match self {
            Client::Direct(pool) => {
                let mut conn = pool.get_conn().await.expect("direct");
                conn.exec_first(query, (id,)).await.expect("select")
            }
            Client::Primary(cluster) => {
                let mut conn = cluster.primary().await.expect("primary");
                conn.exec_first(query, (id,)).await.expect("select")
            }
            Client::Replica(cluster) => {
                let mut conn = cluster.replica().await.expect("replica");
                conn.exec_first(query, (id,)).await.expect("select")
            }
        };
        assert!(row.is_some());
    }
}

/// Point SELECTs from 16 tasks for one window.
async fn measure(client: &Client) -> Window {
    let deadline = Instant::now() + WINDOW;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut id = t as u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    client.select(id % 1000 + 1).await;
                    latencies.push(started.elapsed());
                    id += 7;
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

fn main() {
    let sequential = Sequential::from_args("sequential <direct|primary|replica> <count>");
    let runtime = bench_runtime(sequential.is_some());
    runtime.block_on(async {
        let bench = common::start(MariaDbSpec::new("mysql").replicas(2), |config| {
            config.pool_max = POOL_MAX;
        })
        .await;
        bench
            .mysql
            .execute(
                0,
                &[
                    "USE app",
                    "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)",
                    "INSERT INTO t SELECT seq, seq * 2 FROM seq_1_to_1000",
                ],
            )
            .await
            .expect("seed");
        bench
            .mysql
            .wait_for_replication()
            .await
            .expect("replicated");
        let direct = |ordinal| {
            // The same pool settings discovery-mysql uses: up to POOL_MAX connections kept
            // (a zero idle TTL would make mysql_async close every one above `min` on return).
            let opts = bench.mysql.app_opts(ordinal).expect("opts").pool_opts(
                PoolOpts::default()
                    .with_constraints(PoolConstraints::new(1, POOL_MAX).expect("constraints"))
                    .with_inactive_connection_ttl(Duration::from_secs(60)),
            );
            Pool::new(opts)
        };
        // Two pods: the replica the cluster reads from is the one the direct pool dials.
        let clients = [
            Client::Direct(direct(0)),
            Client::Primary(bench.handle.clone()),
            Client::Direct(direct(1)),
            Client::Replica(bench.handle.clone()),
        ];
        if let Some(Sequential { path, count }) = sequential {
            // One caller, one request at a time, in a spawned task as the 16 callers
            // below are: instruction counts, unlike wall time, do not depend on what else
            // the machine is doing. Both pods' pools hold a connection already.
            let index = match path.as_str() {
                "direct" => 2,
                "primary" => 1,
                "replica" => 3,
                other => panic!("unknown path {other:?}: direct, primary or replica"),
            };
            let client = clients[index].clone();
            tokio::spawn(async move {
                for i in 0..count {
                    client.select(i as u64 % 1000 + 1).await;
                }
            })
            .await
            .expect("sequential caller");
            return;
        }
        for client in &clients {
            measure(client).await; // warm every pool to its working size
        }
        for (name, direct, ours) in [
            ("point SELECT via primary()", &clients[0], &clients[1]),
            ("point SELECT via replica()", &clients[2], &clients[3]),
        ] {
            let comparison = compare(ROUNDS, || measure(direct), || measure(ours)).await;
            println!("{name}: {comparison} (target >= 0.95 both)");
        }
    });
}
