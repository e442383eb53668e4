//! Failover: from a replica's promotion (old primary SIGKILLed) to the first successful
//! write through the cluster handle, p95 over 10 trials. Target: <= 1.5 x probe interval.
//!
//! `cargo bench -p headless-discovery-mysql --bench failover`

mod common;

use headless_discovery_testkit::measure::quantile;
use std::time::{Duration, Instant};

use headless_discovery_mysql::Statement;
use headless_discovery_testkit::mysql::MariaDbSpec;

const TRIALS: u32 = 10;

fn main() {
    headless_discovery_testkit::measure::bench_runtime(false).block_on(async {
        let bench = common::start(MariaDbSpec::new("mysql"), |_| {}).await;
        let interval = bench.handle.config().roles.probe_interval;
        bench
            .mysql
            .execute(0, &["CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, trial INT)"])
            .await
            .expect("table");
        bench.mysql.wait_for_replication().await.expect("replicated");
        let insert = |trial: u32| Statement::new("INSERT INTO t (trial) VALUES (?)").with_params((trial,));
        let mut times = Vec::new();
        let mut primary = 0u32;
        for trial in 0..TRIALS {
            let next = (primary + 1) % 3;
            bench.handle.execute(insert(trial)).await.expect("write before");
            bench.mysql.kill(primary).expect("kill the primary");
            bench.mysql.promote(next).await.expect("promote");
            let promoted = Instant::now();
            loop {
                match bench.handle.execute(insert(trial)).await {
                    Ok(reply) if reply.pod.ordinal() == Some(next) => break,
                    _ => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
            times.push(promoted.elapsed());
            // The old primary comes back as a replica of the new one for the next trial.
            bench.mysql.restart(primary).await.expect("restart");
            bench.mysql.wait_for_replication().await.expect("replicated");
            primary = next;
        }
        times.sort_unstable();
        println!(
            "failover (SIGKILL primary, promote replica) to first write on the new primary, {TRIALS} trials: p50 {:?}, p95 {:?}, max {:?}; probe interval {interval:?}, target p95 <= {:?}",
            quantile(&times, 0.5),
            quantile(&times, 0.95),
            times.last().copied().unwrap_or_default(),
            interval.mul_f64(1.5)
        );
    });
}
