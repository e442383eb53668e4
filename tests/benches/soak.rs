//! The long fault soak: `cargo bench -p discovery-e2e --bench soak -- [schedules] [faults]`
//! runs that many seeded schedules (default 50 of 8 faults) on a real Redis set with two
//! writers and prints the checker's totals, as recorded in BENCHMARKS.md.

use discovery_e2e::soak::{Schedule, redis};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let schedules = args.first().copied().unwrap_or(50);
    let faults = args.get(1).copied().unwrap_or(8);
    let mut totals = Vec::new();
    for seed in 0..schedules as u64 {
        let schedule = Schedule::new(seed, faults);
        let report = redis::run(&schedule, 2).await;
        println!(
            "seed {seed}: {} acked, {} failed, {} lost, {} lost to crashes, {} over bound",
            report.acknowledged,
            report.failed,
            report.lost.len(),
            report.lost_to_crashes,
            report.over_bound.len()
        );
        totals.push(report);
    }
    let sum = |f: fn(&discovery_e2e::soak::Report) -> usize| totals.iter().map(f).sum::<usize>();
    println!("\n{schedules} schedules x {faults} faults on Redis");
    println!("acknowledged writes: {}", sum(|r| r.acknowledged));
    println!("failed writes: {}", sum(|r| r.failed));
    println!(
        "failed writes outside any fault: {}",
        sum(|r| r.failed_outside_faults)
    );
    println!(
        "acknowledged writes lost, not explained by a crash: {}",
        sum(|r| r.lost.len())
    );
    println!(
        "acknowledged writes lost within 500 ms before a SIGKILL: {}",
        sum(|r| r.lost_to_crashes)
    );
    println!("replica reads answered: {}", sum(|r| r.reads));
    println!("replica reads failed: {}", sum(|r| r.reads_failed));
    println!(
        "replica reads failed outside any fault: {}",
        sum(|r| r.reads_failed_outside_faults)
    );
    println!("requests over the bound: {}", sum(|r| r.over_bound.len()));
    let mut per_fault: Vec<(String, std::time::Duration, usize)> = Vec::new();
    for report in &totals {
        for (fault, gap) in &report.longest_unavailability {
            let name = format!("{fault:?}");
            match per_fault.iter_mut().find(|(n, _, _)| *n == name) {
                Some((_, worst, count)) => {
                    *worst = (*worst).max(*gap);
                    *count += 1;
                }
                None => per_fault.push((name, *gap, 1)),
            }
        }
    }
    for (fault, worst, count) in per_fault {
        let failed: usize = totals
            .iter()
            .flat_map(|r| &r.failed_in)
            .filter(|(f, _)| format!("{f:?}") == fault)
            .map(|(_, n)| n)
            .sum();
        println!("{fault}: {count} times, {failed} failed writes, longest write gap {worst:?}");
    }
}
