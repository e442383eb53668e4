//! The long fault soak: `cargo bench -p discovery-e2e --bench soak -- <redis|mysql>
//! [schedules] [faults]` runs that many seeded schedules (default 50 of 8 faults, seeds
//! 0, 1, …) on a real Redis or MariaDB set and prints each run's headline and the
//! checker's totals, as recorded in BENCHMARKS.md. `--seed N` runs schedule N alone.

use discovery_e2e::soak::{Report, Schedule, mysql, redis};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The testkit's warnings (a pod rebuilt as a clone...) say what a run's figures are made of.
    headless_discovery_testkit::init_tracing();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = args
        .iter()
        .find(|a| *a == "redis" || *a == "mysql")
        .cloned()
        .unwrap_or_else(|| "redis".to_owned());
    let numbers: Vec<usize> = args
        .iter()
        .take_while(|a| *a != "--seed")
        .filter_map(|a| a.parse().ok())
        .collect();
    let schedules = numbers.first().copied().unwrap_or(50);
    let faults = numbers.get(1).copied().unwrap_or(8);
    // `--seed N`: only that schedule, to look again at what one run found.
    let only: Option<u64> = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let seeds: Vec<u64> = match only {
        Some(seed) => vec![seed],
        None => (0..schedules as u64).collect(),
    };
    let mut totals = Report::default();
    let runs = seeds.len();
    for seed in seeds {
        let schedule = Schedule::new(seed, faults);
        let report = match store.as_str() {
            "mysql" => mysql::run(&schedule).await,
            _ => redis::run(&schedule, 2).await,
        };
        println!(
            "seed {seed}: {} acked, {} failed, {} lost, {} lost to faults, {} sent to a non-leader, {} read-your-writes missed, {} over bound",
            report.acknowledged,
            report.failed,
            report.lost.len(),
            report.lost_to_crashes + report.lost_to_frozen,
            report.sent_to_non_leader.len(),
            report.read_your_writes_missed.len(),
            report.over_bound.len()
        );
        totals.absorb(report);
    }
    println!("\n{runs} schedules x {faults} faults on {store}\n{totals}");
    if !totals.lost.is_empty() || !totals.sent_to_non_leader.is_empty() {
        println!("lost: {:?}", totals.lost);
        println!("sent to a non-leader: {:?}", totals.sent_to_non_leader);
    }
}
