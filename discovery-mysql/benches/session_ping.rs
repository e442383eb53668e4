//! What the ping before a held session's write costs: a write on a session idle for
//! `session_ping_after` and a little more, through `run_on` with the ping (the default),
//! through `run_on` without it (`session_ping_after: None`), and on a direct mysql_async
//! connection to the same pod, in turns, in one run.
//!
//! `cargo bench -p headless-discovery-mysql --bench session_ping`
//!
//! The ping is one round trip, paid only after an idle spell; the figure to watch is
//! that round trip as a share of the idle time it follows.

mod common;

use std::time::{Duration, Instant};

use headless_discovery_mysql::{MySqlRouter, Statement};
use headless_discovery_testkit::measure::{bench_runtime, quantile};
use headless_discovery_testkit::mysql::MariaDbSpec;
use mysql_async::prelude::Queryable;

const TRIALS: usize = 400;
/// Just over the default `session_ping_after` (10 ms), so every pinged write pings.
const IDLE: Duration = Duration::from_millis(12);

fn insert(v: usize) -> Statement {
    Statement::new("INSERT INTO t (v) VALUES (?)").with_params((v,))
}

fn main() {
    bench_runtime(false).block_on(async {
        let bench = common::start(MariaDbSpec::new("mysql"), |_| {}).await;
        bench
            .mysql
            .execute(0, &["CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"])
            .await
            .expect("table");
        let mut unpinged_config = bench.handle.config().clone();
        unpinged_config.session_ping_after = None;
        let unpinged = MySqlRouter::connect(
            &bench.discovery,
            bench.mysql.service_name().as_str(),
            unpinged_config,
        )
        .await
        .expect("router without the ping");
        let mut pinged_session = bench.handle.primary().await.expect("session");
        let mut unpinged_session = unpinged.primary().await.expect("session");
        let opts = bench.mysql.app_opts(0).expect("the app user's options for mysql-0");
        let mut direct = mysql_async::Conn::new(opts).await.expect("direct connection");

        let (mut pinged, mut bare, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
        for trial in 0..TRIALS {
            tokio::time::sleep(IDLE).await;
            let started = Instant::now();
            direct
                .exec_drop("INSERT INTO t (v) VALUES (?)", (trial,))
                .await
                .expect("direct write");
            baseline.push(started.elapsed());

            tokio::time::sleep(IDLE).await;
            let started = Instant::now();
            bench
                .handle
                .run_on(&mut pinged_session, insert(trial))
                .await
                .expect("pinged write");
            pinged.push(started.elapsed());

            tokio::time::sleep(IDLE).await;
            let started = Instant::now();
            unpinged
                .run_on(&mut unpinged_session, insert(trial))
                .await
                .expect("unpinged write");
            bare.push(started.elapsed());
        }
        for latencies in [&mut pinged, &mut bare, &mut baseline] {
            latencies.sort();
        }
        let p50 = |l: &[Duration]| quantile(l, 0.5);
        let p99 = |l: &[Duration]| quantile(l, 0.99);
        println!("a write after {IDLE:?} idle, {TRIALS} trials each, taking turns:");
        for (name, l) in [
            ("direct mysql_async", &baseline),
            ("run_on, no ping", &bare),
            ("run_on, pinged", &pinged),
        ] {
            println!("  {name:<20} p50 {:>10?}  p99 {:>10?}", p50(l), p99(l));
        }
        let added = p50(&pinged).saturating_sub(p50(&bare));
        println!(
            "the ping adds {added:?} at p50 ({:.1} % of the idle time; p50 ratio pinged / direct {:.2})",
            added.as_secs_f64() / IDLE.as_secs_f64() * 100.0,
            p50(&pinged).as_secs_f64() / p50(&baseline).as_secs_f64()
        );
    });
}
