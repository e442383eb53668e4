//! A fault soak with a history checker: a seeded schedule of faults on a real
//! StatefulSet while clients write unique values through the SDK, then a check of what
//! the history says against what the final leader holds.
//!
//! The schedule and checker are store-neutral; `tests/tests/soak.rs` (short, in CI) and
//! `tests/benches/soak.rs` (long, for BENCHMARKS.md) drive a Redis set with them.

use std::fmt;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

pub mod redis;

/// One fault of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the leader, promote a replica, bring the old leader back as its replica.
    KillLeader,
    /// SIGSTOP a pod for a while, then SIGCONT.
    Freeze {
        /// The leader, or a replica.
        leader: bool,
    },
    /// A planned switchover done the safe way (the testkit's `switchover`).
    Switchover,
    /// The DNS server answers SERVFAIL for a while.
    DnsServFail,
    /// The DNS server does not answer for a while.
    DnsSilence,
    /// A replica is replaced by a pod with a new IP (a rolling update).
    ReplacePod,
}

impl Fault {
    /// Whether the fault can lose acknowledged writes (asynchronous replication).
    pub fn is_crash(self) -> bool {
        matches!(self, Fault::KillLeader)
    }
}

/// A seeded random schedule: which faults, and the pause before each.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The seed it was made from; the same seed gives the same schedule.
    pub seed: u64,
    /// Pause, then fault.
    pub steps: Vec<(Duration, Fault)>,
}

impl Schedule {
    /// `faults` faults drawn from `seed`, each after 100–400 ms.
    pub fn new(seed: u64, faults: usize) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let kinds = [
            Fault::KillLeader,
            Fault::Freeze { leader: false },
            Fault::Freeze { leader: true },
            Fault::Switchover,
            Fault::DnsServFail,
            Fault::DnsSilence,
            Fault::ReplacePod,
        ];
        let steps = (0..faults)
            .map(|_| {
                let pause = Duration::from_millis(rng.random_range(100..400));
                (pause, kinds[rng.random_range(0..kinds.len())])
            })
            .collect();
        Self { seed, steps }
    }
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Ok,
    /// Failed: the SDK's `Error` when no pod could be chosen, else the redis-rs error the
    /// command met (its text).
    Failed(String),
}

/// One write as a client saw it.
#[derive(Debug, Clone)]
pub struct Write {
    /// The unique key written.
    pub key: String,
    /// The pod the SDK sent it to, when it got that far.
    pub pod: Option<String>,
    /// When it was sent and when the answer came.
    pub started: Instant,
    /// When the answer came.
    pub ended: Instant,
    /// How it ended.
    pub outcome: Outcome,
}

/// When a fault happened and ended.
#[derive(Debug, Clone, Copy)]
pub struct FaultWindow {
    /// Which fault.
    pub fault: Fault,
    /// When it started.
    pub started: Instant,
    /// When it was healed.
    pub healed: Instant,
}

/// What the checker found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Writes acknowledged.
    pub acknowledged: usize,
    /// Writes that failed.
    pub failed: usize,
    /// Acknowledged writes missing from the final leader, not explained by a crash, as
    /// `key@pod`.
    pub lost: Vec<String>,
    /// Acknowledged writes missing from the final leader, acknowledged shortly before a
    /// leader was killed (asynchronous replication may lose them).
    pub lost_to_crashes: usize,
    /// Failed writes per fault kind, counted for the fault whose window they fell in.
    pub failed_in: Vec<(Fault, usize)>,
    /// Failed writes outside every fault window.
    pub failed_outside_faults: usize,
    /// Requests that took longer than the documented bound.
    pub over_bound: Vec<Duration>,
    /// The longest gap between acknowledged writes that overlaps each fault.
    pub longest_unavailability: Vec<(Fault, Duration)>,
    /// Replica reads answered.
    pub reads: usize,
    /// Replica reads that failed.
    pub reads_failed: usize,
    /// Replica reads that failed outside every fault window.
    pub reads_failed_outside_faults: usize,
}

/// Adds replica reads to `report`: `reads` are requests like writes, whose keys are not
/// checked (replication is asynchronous), only their outcome and duration.
pub fn check_reads(report: &mut Report, reads: &[Write], faults: &[FaultWindow], bound: Duration) {
    for read in reads {
        let took = read.ended.duration_since(read.started);
        if took > bound {
            report.over_bound.push(took);
        }
        match read.outcome {
            Outcome::Ok => report.reads += 1,
            Outcome::Failed(_) => {
                report.reads_failed += 1;
                let during = faults
                    .iter()
                    .any(|f| read.ended >= f.started && read.started <= f.healed + bound);
                if !during {
                    report.reads_failed_outside_faults += 1;
                }
            }
        }
    }
}

/// How long before a kill an acknowledged write may still be unreplicated.
const REPLICATION_WINDOW: Duration = Duration::from_millis(500);

/// Checks a history: `present(key)` says whether the final leader holds the key.
pub fn check(
    writes: &[Write],
    faults: &[FaultWindow],
    bound: Duration,
    mut present: impl FnMut(&str) -> bool,
) -> Report {
    let mut report = Report::default();
    let mut acked: Vec<&Write> = Vec::new();
    for write in writes {
        let took = write.ended.duration_since(write.started);
        if took > bound {
            report.over_bound.push(took);
        }
        match &write.outcome {
            Outcome::Ok => {
                report.acknowledged += 1;
                acked.push(write);
                if !present(&write.key) {
                    let crash = faults.iter().any(|f| {
                        f.fault.is_crash()
                            && f.started >= write.ended
                            && f.started.duration_since(write.ended) <= REPLICATION_WINDOW
                    });
                    if crash {
                        report.lost_to_crashes += 1;
                    } else {
                        let pod = write.pod.as_deref().unwrap_or("?");
                        report.lost.push(format!("{}@{pod}", write.key));
                    }
                }
            }
            Outcome::Failed(_) => {
                report.failed += 1;
                match faults
                    .iter()
                    .find(|f| write.ended >= f.started && write.started <= f.healed + bound)
                {
                    Some(f) => match report.failed_in.iter_mut().find(|(k, _)| *k == f.fault) {
                        Some((_, n)) => *n += 1,
                        None => report.failed_in.push((f.fault, 1)),
                    },
                    None => report.failed_outside_faults += 1,
                }
            }
        }
    }
    acked.sort_by_key(|w| w.ended);
    for fault in faults {
        let longest = acked
            .windows(2)
            .filter(|pair| pair[1].ended >= fault.started && pair[0].ended <= fault.healed)
            .map(|pair| pair[1].ended.duration_since(pair[0].ended))
            .max()
            .unwrap_or_default();
        report.longest_unavailability.push((fault.fault, longest));
    }
    report
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "writes: {} acknowledged, {} failed, {} outside any fault",
            self.acknowledged, self.failed, self.failed_outside_faults
        )?;
        writeln!(
            f,
            "lost acknowledged writes: {} not explained by a crash, {} within {REPLICATION_WINDOW:?} before a kill",
            self.lost.len(),
            self.lost_to_crashes
        )?;
        writeln!(
            f,
            "replica reads: {} answered, {} failed, {} outside any fault",
            self.reads, self.reads_failed, self.reads_failed_outside_faults
        )?;
        writeln!(f, "requests over the bound: {}", self.over_bound.len())?;
        for (fault, n) in &self.failed_in {
            writeln!(f, "failed writes during {fault:?}: {n}")?;
        }
        let mut worst: Vec<(Fault, Duration)> = Vec::new();
        for (fault, gap) in &self.longest_unavailability {
            match worst.iter_mut().find(|(k, _)| k == fault) {
                Some((_, w)) => *w = (*w).max(*gap),
                None => worst.push((*fault, *gap)),
            }
        }
        for (fault, gap) in worst {
            writeln!(f, "longest write gap during {fault:?}: {gap:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, at: Instant, ok: bool) -> Write {
        Write {
            key: key.to_owned(),
            pod: None,
            started: at,
            ended: at + Duration::from_millis(1),
            outcome: if ok {
                Outcome::Ok
            } else {
                Outcome::Failed("down".into())
            },
        }
    }

    #[test]
    fn the_checker_tells_crash_losses_from_real_ones() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let writes = [
            write("a", t0, true),
            write("b", t0 + ms(10), true),
            write("c", t0 + ms(900), true),
            write("d", t0 + ms(1000), false),
            write("e", t0 + ms(2000), true),
        ];
        let faults = [FaultWindow {
            fault: Fault::KillLeader,
            started: t0 + ms(950),
            healed: t0 + ms(1500),
        }];
        let report = check(&writes, &faults, ms(100), |key| key == "e");
        assert_eq!(
            report.lost,
            ["a@?", "b@?"],
            "long before the kill: lost for no reason"
        );
        assert_eq!(report.lost_to_crashes, 1, "c, just before the kill");
        assert_eq!(report.failed_in, [(Fault::KillLeader, 1)]);
        assert_eq!(
            report.longest_unavailability,
            [(Fault::KillLeader, ms(1100))]
        );
        assert!(report.over_bound.is_empty());
        assert_eq!(Schedule::new(7, 5).steps, Schedule::new(7, 5).steps);
    }
}
