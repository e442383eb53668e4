//! The history checker: what the recorded requests say, against what the final leader
//! holds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::history::{Kind, Outcome, RAW, Request};
use super::schedule::{Fault, FaultWindow};

/// The documented deadline of each path: a request that takes longer is a finding.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// A write: the wait for a leader, then each allowed attempt's connect and response.
    pub write: Duration,
    /// A replica read.
    pub read: Duration,
    /// A read-your-writes read: the replica's wait for the position, or the fallback.
    pub read_your_writes: Duration,
    /// A transaction on a held session: a connection, then each statement's reply.
    pub transaction: Duration,
}

impl Bounds {
    fn of(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Write => self.write,
            Kind::Read => self.read,
            Kind::ReadYourWrite => self.read_your_writes,
            Kind::Transaction => self.transaction,
        }
    }
}

/// What the checker found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Writes acknowledged.
    pub acknowledged: usize,
    /// Writes that failed.
    pub failed: usize,
    /// Acknowledged writes missing from the final leader that no fault explains, as
    /// `key@pod`. Must be empty.
    pub lost: Vec<String>,
    /// Acknowledged writes missing from the final leader that a killed leader took and
    /// the promoted replica never got (asynchronous replication loses them).
    pub lost_to_crashes: usize,
    /// Acknowledged writes missing from the final leader, acknowledged by a frozen old
    /// leader that nobody fenced.
    pub lost_to_frozen: usize,
    /// Writes only a frozen old leader held when it rejoined (acknowledged or not).
    pub stranded: usize,
    /// Writes and transactions that failed with an error saying they applied nothing,
    /// yet the final leader holds them, as `key@pod: error`. Must be empty.
    pub failed_yet_applied: Vec<String>,
    /// Transactions committed.
    pub transactions: usize,
    /// Transactions that failed: each one whole, never sent again.
    pub transactions_failed: usize,
    /// ... of which the error leaves open that they committed (an unknown outcome).
    pub transactions_failed_unknown: usize,
    /// Transactions that failed outside every fault window.
    pub transactions_failed_outside_faults: usize,
    /// Writes sent to a pod while the SDK named another as leader, as
    /// `key@pod (leader …)`. Must be empty.
    pub sent_to_non_leader: Vec<String>,
    /// Failed writes per fault kind, counted for the latest fault whose window they fell
    /// in.
    pub failed_in: BTreeMap<Fault, usize>,
    /// The first few failed writes' errors per fault kind, to tell what a count is made of.
    pub failed_in_examples: BTreeMap<Fault, Vec<String>>,
    /// Failed writes outside every fault window.
    pub failed_outside_faults: usize,
    /// Failures of every kind of request, per error variant.
    pub failures: BTreeMap<String, usize>,
    /// Requests that took longer than their path's bound.
    pub over_bound: Vec<(Kind, Duration)>,
    /// The longest gap between acknowledged writes that overlaps each fault.
    pub longest_unavailability: Vec<(Fault, Duration)>,
    /// How long each fault took from its start to its heal (a switchover: the whole
    /// pause, from `CLIENT PAUSE` or `read_only` to the repointed replicas).
    pub fault_durations: Vec<(Fault, Duration)>,
    /// How long each acknowledged write took, by the latest fault whose window (start
    /// to heal) it overlaps, or `None` outside every fault: what a fault adds to latency.
    pub write_latency: BTreeMap<Option<Fault>, Vec<Duration>>,
    /// How much longer than its fault each write counted there took (its latency less
    /// the fault's own start-to-heal time): what the SDK adds, beyond the fault itself.
    pub write_added: BTreeMap<Fault, Vec<Duration>>,
    /// Up to three writes per fault that took over 100 ms beyond it: when each
    /// was issued against the faults around it, to chase where the time went.
    pub slow_examples: BTreeMap<Fault, Vec<String>>,
    /// Replica reads answered.
    pub reads: usize,
    /// Replica reads that failed.
    pub reads_failed: usize,
    /// Reads (of either kind) that failed outside every fault window.
    pub reads_failed_outside_faults: usize,
    /// Read-your-writes reads that saw their write.
    pub read_your_writes: usize,
    /// ... of which a replica (not the pod that took the write) served.
    pub read_your_writes_on_replicas: usize,
    /// Read-your-writes reads that did not see their own write, as `key@pod`. Must be
    /// empty.
    pub read_your_writes_missed: Vec<String>,
    /// Read-your-writes reads that did not see a write the cluster then lost (to a
    /// crash or an unfenced frozen leader).
    pub read_your_writes_of_lost_writes: usize,
    /// Read-your-writes reads that failed.
    pub read_your_writes_failed: usize,
}

impl Report {
    /// Failures whose error did not come as the crate's typed `Error`.
    pub fn raw_failures(&self) -> usize {
        self.failures.get(RAW).copied().unwrap_or(0)
    }

    /// Failed writes during faults of `kind`.
    pub fn failed_during(&self, kind: Fault) -> usize {
        self.failed_in.get(&kind).copied().unwrap_or(0)
    }

    /// Adds another run's findings to these (for totals over many schedules).
    pub fn absorb(&mut self, other: Report) {
        self.acknowledged += other.acknowledged;
        self.failed += other.failed;
        self.lost.extend(other.lost);
        self.lost_to_crashes += other.lost_to_crashes;
        self.lost_to_frozen += other.lost_to_frozen;
        self.stranded += other.stranded;
        self.sent_to_non_leader.extend(other.sent_to_non_leader);
        self.failed_yet_applied.extend(other.failed_yet_applied);
        self.transactions += other.transactions;
        self.transactions_failed += other.transactions_failed;
        self.transactions_failed_unknown += other.transactions_failed_unknown;
        self.transactions_failed_outside_faults += other.transactions_failed_outside_faults;
        for (fault, n) in other.failed_in {
            *self.failed_in.entry(fault).or_default() += n;
        }
        absorb_examples(&mut self.failed_in_examples, other.failed_in_examples);
        self.failed_outside_faults += other.failed_outside_faults;
        for (variant, n) in other.failures {
            *self.failures.entry(variant).or_default() += n;
        }
        self.over_bound.extend(other.over_bound);
        self.longest_unavailability
            .extend(other.longest_unavailability);
        self.fault_durations.extend(other.fault_durations);
        for (fault, took) in other.write_latency {
            self.write_latency.entry(fault).or_default().extend(took);
        }
        for (fault, added) in other.write_added {
            self.write_added.entry(fault).or_default().extend(added);
        }
        absorb_examples(&mut self.slow_examples, other.slow_examples);
        self.reads += other.reads;
        self.reads_failed += other.reads_failed;
        self.reads_failed_outside_faults += other.reads_failed_outside_faults;
        self.read_your_writes += other.read_your_writes;
        self.read_your_writes_on_replicas += other.read_your_writes_on_replicas;
        self.read_your_writes_missed
            .extend(other.read_your_writes_missed);
        self.read_your_writes_of_lost_writes += other.read_your_writes_of_lost_writes;
        self.read_your_writes_failed += other.read_your_writes_failed;
    }
}

/// Checks a history: `present(key)` says whether the final leader holds the key.
pub fn check(
    history: &[Request],
    faults: &[FaultWindow],
    bounds: Bounds,
    mut present: impl FnMut(&str) -> bool,
) -> Report {
    let mut report = Report {
        stranded: faults.iter().map(|f| f.stranded).sum(),
        ..Report::default()
    };
    let mut acked: Vec<&Request> = Vec::new();
    for request in history {
        let bound = bounds.of(request.kind);
        let took = request.ended.duration_since(request.started);
        if took > bound {
            report.over_bound.push((request.kind, took));
        }
        // The latest fault that overlaps: a window runs on for a whole bound after its
        // heal, so an earlier fault's window can cover a later fault's failures.
        let fault = faults
            .iter()
            .filter(|f| f.overlaps(request.started, request.ended, bound))
            .max_by_key(|f| f.started);
        let pod = request.pod.as_deref().unwrap_or("?");
        if request.sent_to_non_leader() {
            let leader = request.leader[0].as_deref().unwrap_or("?");
            let outcome = match &request.outcome {
                Outcome::Failed { message, .. } => format!("failed: {message}"),
                _ => "acknowledged".to_owned(),
            };
            report.sent_to_non_leader.push(format!(
                "{}@{pod} (leader {leader}, {outcome})",
                request.key
            ));
        }
        if let Outcome::Failed {
            variant,
            message,
            may_have_applied,
        } = &request.outcome
        {
            *report.failures.entry(variant.clone()).or_default() += 1;
            let writes = matches!(request.kind, Kind::Write | Kind::Transaction);
            if writes && !may_have_applied && present(&request.key) {
                report
                    .failed_yet_applied
                    .push(format!("{}@{pod}: {message}", request.key));
            }
        }
        match (request.kind, &request.outcome) {
            (Kind::Write | Kind::Transaction, Outcome::Ok) => {
                if request.kind == Kind::Write {
                    report.acknowledged += 1;
                    acked.push(request);
                } else {
                    report.transactions += 1;
                }
                if !present(&request.key) {
                    match explain_loss(request, faults) {
                        Some(Fault::KillLeader) => report.lost_to_crashes += 1,
                        Some(_) => report.lost_to_frozen += 1,
                        None => report.lost.push(format!(
                            "{}@{pod} ({})",
                            request.key,
                            loss_context(request, faults)
                        )),
                    }
                }
            }
            (Kind::Transaction, outcome) => {
                report.transactions_failed += 1;
                if matches!(
                    outcome,
                    Outcome::Failed {
                        may_have_applied: true,
                        ..
                    }
                ) {
                    report.transactions_failed_unknown += 1;
                }
                if fault.is_none() {
                    report.transactions_failed_outside_faults += 1;
                }
            }
            (Kind::Write, outcome) => {
                report.failed += 1;
                match fault {
                    Some(f) => {
                        *report.failed_in.entry(f.fault).or_default() += 1;
                        if let Outcome::Failed { message, .. } = outcome {
                            keep_example(&mut report.failed_in_examples, f.fault, || {
                                format!("{message} (on {pod})")
                            });
                        }
                    }
                    None => report.failed_outside_faults += 1,
                }
            }
            (Kind::Read, Outcome::Ok) => report.reads += 1,
            (Kind::ReadYourWrite, Outcome::Ok) => {
                report.read_your_writes += 1;
                if request.pod != request.leader[0] {
                    report.read_your_writes_on_replicas += 1;
                }
            }
            // A write the cluster lost (counted above) cannot be read back; its token
            // may still look reached, since MariaDB compares only a domain's sequence
            // number and the new primary's history passes it.
            (Kind::ReadYourWrite | Kind::Read, Outcome::Missed) if !present(&request.key) => {
                report.read_your_writes_of_lost_writes += 1;
            }
            (Kind::ReadYourWrite | Kind::Read, Outcome::Missed) => report
                .read_your_writes_missed
                .push(format!("{}@{pod}", request.key)),
            (Kind::Read | Kind::ReadYourWrite, Outcome::Failed { .. }) => {
                if request.kind == Kind::Read {
                    report.reads_failed += 1;
                } else {
                    report.read_your_writes_failed += 1;
                }
                if fault.is_none() {
                    report.reads_failed_outside_faults += 1;
                }
            }
        }
    }
    for write in &acked {
        let took = write.ended.duration_since(write.started);
        let window = latency_fault(write, faults);
        if let Some(window) = window {
            let lasted = window.healed.duration_since(window.started);
            let beyond = took.saturating_sub(lasted);
            report
                .write_added
                .entry(window.fault)
                .or_default()
                .push(beyond);
            if beyond > SLOW_BEYOND {
                keep_example(&mut report.slow_examples, window.fault, || {
                    format!(
                        "{}@{} took {took:?}; {}",
                        write.key,
                        write.pod.as_deref().unwrap_or("?"),
                        issued_against(write, faults)
                    )
                });
            }
        }
        let fault = window.map(|w| w.fault);
        report.write_latency.entry(fault).or_default().push(took);
    }
    report.fault_durations = faults
        .iter()
        .map(|f| (f.fault, f.healed.duration_since(f.started)))
        .collect();
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

/// How many examples a report keeps per fault.
const EXAMPLES: usize = 3;

/// Keeps the example `make` writes for `fault`, unless `EXAMPLES` are kept already.
fn keep_example(
    examples: &mut BTreeMap<Fault, Vec<String>>,
    fault: Fault,
    make: impl FnOnce() -> String,
) {
    let kept = examples.entry(fault).or_default();
    if kept.len() < EXAMPLES {
        kept.push(make());
    }
}

/// Adds another run's examples to `ours`, up to `EXAMPLES` per fault.
fn absorb_examples(ours: &mut BTreeMap<Fault, Vec<String>>, theirs: BTreeMap<Fault, Vec<String>>) {
    for (fault, examples) in theirs {
        let kept = ours.entry(fault).or_default();
        let room = EXAMPLES.saturating_sub(kept.len());
        kept.extend(examples.into_iter().take(room));
    }
}

/// A write that took this much longer than its fault is listed as an example.
const SLOW_BEYOND: Duration = Duration::from_millis(100);

/// When `write` was issued and answered against each fault within a second of it.
fn issued_against(write: &Request, faults: &[FaultWindow]) -> String {
    let near = Duration::from_secs(1);
    let lines: Vec<String> = faults
        .iter()
        .filter(|f| f.overlaps(write.started, write.ended, near))
        .filter(|f| write.ended + near >= f.started)
        .map(|f| {
            format!(
                "{:?} on {} (issued {} from its start, answered {} from its heal)",
                f.fault,
                f.pod,
                offset(write.started, f.started),
                offset(write.ended, f.healed)
            )
        })
        .collect();
    lines.join("; ")
}

/// `t` against `mark`, signed: `+12ms` after it, `-3ms` before.
fn offset(t: Instant, mark: Instant) -> String {
    if t >= mark {
        format!("+{:?}", t.duration_since(mark))
    } else {
        format!("-{:?}", mark.duration_since(t))
    }
}

/// The fault a write's latency counts for: the one in progress when it was issued, else
/// the latest that began while it waited. A write issued in one fault and held into the
/// next (a crash failover's wait, ending inside a switchover) counts for the first.
fn latency_fault<'f>(write: &Request, faults: &'f [FaultWindow]) -> Option<&'f FaultWindow> {
    let issued_in = faults
        .iter()
        .filter(|f| f.started <= write.started && write.started <= f.healed)
        .max_by_key(|f| f.started);
    issued_in.or_else(|| {
        faults
            .iter()
            .filter(|f| write.started < f.started && f.started <= write.ended)
            .max_by_key(|f| f.started)
    })
}

/// For a loss no fault explains, what each fault that can lose writes says about the
/// write: its kind and pod, when the write was acknowledged relative to the fault's
/// start, and whether the new leader's snapshot held the key, to chase it from.
fn loss_context(write: &Request, faults: &[FaultWindow]) -> String {
    let lines: Vec<String> = faults
        .iter()
        .filter(|f| f.fault.may_lose_writes())
        .map(|f| {
            let at = offset(write.ended, f.started);
            let held = match &f.survivors {
                Some(kept) if kept.contains(&write.key) => "held",
                Some(_) => "missing",
                None => "no snapshot",
            };
            format!(
                "{:?} on {} at {at}: {held} in the new leader's snapshot",
                f.fault, f.pod
            )
        })
        .collect();
    lines.join("; ")
}

/// The fault that cost an acknowledged write: one that replaced the leader that took
/// it, before the write reached the new leader (a kill's unreplicated tail, or what an
/// unfenced frozen leader took).
fn explain_loss(write: &Request, faults: &[FaultWindow]) -> Option<Fault> {
    faults
        .iter()
        .find(|f| {
            f.fault.may_lose_writes()
                && write.pod.as_deref() == Some(f.pod.as_str())
                // Sent before the heal: an old leader applies it before it is repointed,
                // even when the reply is recorded a little after.
                && write.started <= f.healed
                && f.survivors
                    .as_ref()
                    .is_some_and(|kept| !kept.contains(&write.key))
        })
        .map(|f| f.fault)
}

impl Report {
    /// The median time faults of `kind` took from start to heal.
    pub fn fault_duration_median(&self, kind: Fault) -> Option<Duration> {
        let took = self.fault_durations_of(kind);
        took.get(took.len() / 2).copied()
    }

    /// The longest time a fault of `kind` took from start to heal.
    pub fn fault_duration_longest(&self, kind: Fault) -> Option<Duration> {
        self.fault_durations_of(kind).last().copied()
    }

    /// How long each fault of `kind` took, shortest first.
    fn fault_durations_of(&self, kind: Fault) -> Vec<Duration> {
        let mut took: Vec<Duration> = self
            .fault_durations
            .iter()
            .filter(|(f, _)| *f == kind)
            .map(|(_, d)| *d)
            .collect();
        took.sort();
        took
    }

    /// The `q` quantile (0..=1) of the latency of acknowledged writes during `fault`
    /// (`None`: outside every fault), and how many there were.
    pub fn write_latency_quantile(
        &self,
        fault: Option<Fault>,
        q: f64,
    ) -> Option<(Duration, usize)> {
        quantile(self.write_latency.get(&fault)?, q)
    }

    /// The `q` quantile of what writes during `fault` took beyond the fault's own
    /// duration ([`write_added`](Self::write_added)).
    pub fn write_added_quantile(&self, fault: Fault, q: f64) -> Option<(Duration, usize)> {
        quantile(self.write_added.get(&fault)?, q)
    }
}

/// The `q` quantile (0..=1) of `took`, and how many there are.
fn quantile(took: &[Duration], q: f64) -> Option<(Duration, usize)> {
    if took.is_empty() {
        return None;
    }
    let mut took = took.to_vec();
    took.sort();
    let rank = ((took.len() as f64 - 1.0) * q).round() as usize;
    Some((took[rank.min(took.len() - 1)], took.len()))
}

impl Report {
    fn fault_lasted(&self, fault: Fault) -> String {
        let (Some(median), Some(longest)) = (
            self.fault_duration_median(fault),
            self.fault_duration_longest(fault),
        ) else {
            return String::new();
        };
        let added = self
            .write_added_quantile(fault, 0.99)
            .map_or_else(String::new, |(p99, _)| {
                format!("; beyond the fault's own duration: p99 {p99:?}")
            });
        format!("; the fault itself lasts {median:?} (median, longest {longest:?}){added}")
    }
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
            "lost acknowledged writes: {} no fault explains, {} a killed leader never replicated, {} taken by a frozen old leader",
            self.lost.len(),
            self.lost_to_crashes,
            self.lost_to_frozen
        )?;
        writeln!(
            f,
            "writes only a frozen old leader held at its rejoin: {}",
            self.stranded
        )?;
        writeln!(
            f,
            "writes sent to a pod the SDK did not name leader: {}",
            self.sent_to_non_leader.len()
        )?;
        writeln!(
            f,
            "failed as not applied, yet held by the final leader: {}",
            self.failed_yet_applied.len()
        )?;
        if self.transactions + self.transactions_failed > 0 {
            writeln!(
                f,
                "transactions on a held session: {} committed, {} failed ({} with an unknown outcome, {} outside any fault)",
                self.transactions,
                self.transactions_failed,
                self.transactions_failed_unknown,
                self.transactions_failed_outside_faults
            )?;
        }
        writeln!(
            f,
            "replica reads: {} answered, {} failed; reads failed outside any fault: {}",
            self.reads, self.reads_failed, self.reads_failed_outside_faults
        )?;
        writeln!(
            f,
            "read-your-writes: {} saw their write ({} on a replica), {} missed it, {} missed a write the cluster lost, {} failed",
            self.read_your_writes,
            self.read_your_writes_on_replicas,
            self.read_your_writes_missed.len(),
            self.read_your_writes_of_lost_writes,
            self.read_your_writes_failed
        )?;
        writeln!(f, "requests over their bound: {}", self.over_bound.len())?;
        for (variant, n) in &self.failures {
            writeln!(f, "failures as {variant}: {n}")?;
        }
        for fault in self.write_latency.keys() {
            if let (Some((p50, n)), Some((p99, _))) = (
                self.write_latency_quantile(*fault, 0.5),
                self.write_latency_quantile(*fault, 0.99),
            ) {
                let during =
                    fault.map_or_else(|| "outside faults".to_owned(), |f| format!("during {f:?}"));
                let lasted = fault.map_or_else(String::new, |kind| self.fault_lasted(kind));
                writeln!(
                    f,
                    "write latency {during}: p50 {p50:?}, p99 {p99:?} ({n} writes){lasted}"
                )?;
            }
        }
        for (fault, examples) in &self.slow_examples {
            for example in examples {
                writeln!(f, "slow beyond {fault:?}: {example}")?;
            }
        }
        for (fault, n) in &self.failed_in {
            writeln!(f, "failed writes during {fault:?}: {n}")?;
            for example in self.failed_in_examples.get(fault).into_iter().flatten() {
                writeln!(f, "  e.g. {example}")?;
            }
        }
        let mut worst: BTreeMap<Fault, (usize, Duration)> = BTreeMap::new();
        for (fault, gap) in &self.longest_unavailability {
            let (times, w) = worst.entry(*fault).or_default();
            *times += 1;
            *w = (*w).max(*gap);
        }
        for (fault, (times, gap)) in worst {
            writeln!(
                f,
                "{fault:?}: {times} times, longest gap between acknowledged writes {gap:?}"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::soak::history::{MaybeApplied, Pending};

    fn request(kind: Kind, key: &str, pod: &str, at: Instant, outcome: Outcome) -> Request {
        let mut pending = Pending::start(kind, key);
        pending.pod(pod);
        let round = Instant::now();
        pending.leader(0, (Some("db-0".to_owned()), round));
        pending.leader(1, (Some("db-0".to_owned()), round));
        let mut request = pending.finish(outcome);
        request.started = at;
        request.ended = at + Duration::from_millis(1);
        request
    }

    fn window(fault: Fault, pod: &str, started: Instant, healed: Instant) -> FaultWindow {
        FaultWindow {
            fault,
            pod: pod.to_owned(),
            started,
            healed,
            stranded: 0,
            survivors: Some(std::sync::Arc::new(
                ["a", "b", "e", "g"]
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
            )),
        }
    }

    /// Shaped like the adapters' errors: the variant is what `Debug` opens with.
    #[derive(Debug)]
    enum Error {
        NoMaster { waited: Duration },
    }

    impl MaybeApplied for Error {
        fn may_have_applied(&self) -> bool {
            false
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let Error::NoMaster { waited } = self;
            write!(f, "no master after {waited:?}")
        }
    }

    #[test]
    fn the_checker_tells_fault_losses_from_real_ones() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let write = |key, pod, at, ok: bool| {
            let outcome = if ok {
                Outcome::Ok
            } else {
                Outcome::typed(&Error::NoMaster { waited: ms(3000) })
            };
            request(Kind::Write, key, pod, t0 + ms(at), outcome)
        };
        let history = [
            write("a", "db-0", 0, true),
            write("b", "db-0", 10, true),
            write("c", "db-0", 900, true),
            write("d", "db-0", 1000, false),
            write("e", "db-1", 2000, true),
            // Taken by db-1 while frozen and failed over from: no fencing.
            write("f", "db-1", 3100, true),
            // Taken by db-2 during the same window: not the frozen pod, so a real loss.
            write("g", "db-2", 3100, true),
            // Sent to db-1 just before the heal, its reply recorded 1 ms after: no
            // fencing either. Sent after the heal: a real loss.
            write("h", "db-1", 3499, true),
            write("i", "db-1", 3510, true),
        ];
        let mut history = history;
        history[7].ended = t0 + ms(3501);
        let faults = [
            window(Fault::KillLeader, "db-0", t0 + ms(950), t0 + ms(1500)),
            window(
                Fault::FailoverFromFrozen,
                "db-1",
                t0 + ms(3000),
                t0 + ms(3500),
            ),
        ];
        let bounds = Bounds {
            write: ms(100),
            read: ms(100),
            read_your_writes: ms(100),
            transaction: ms(100),
        };
        let report = check(&history, &faults, bounds, |key| key == "e");
        // a and b reached the promoted pod, so the kill did not lose them.
        let lost: Vec<&str> = report
            .lost
            .iter()
            .filter_map(|l| l.split(" (").next())
            .collect();
        assert_eq!(lost, ["a@db-0", "b@db-0", "g@db-2", "i@db-1"]);
        // Each says what the snapshots held, to chase it from.
        assert!(
            report.lost[0].contains("KillLeader on db-0 at -949ms: held"),
            "{}",
            report.lost[0]
        );
        assert_eq!(report.lost_to_crashes, 1, "c, which the promoted pod lacks");
        assert_eq!(report.lost_to_frozen, 2, "f and h, on the frozen pod");
        assert_eq!(report.failed_during(Fault::KillLeader), 1);
        assert_eq!(report.failures.get("NoMaster"), Some(&1));
        assert_eq!(report.raw_failures(), 0);
        assert_eq!(
            report.sent_to_non_leader,
            [
                "e@db-1 (leader db-0, acknowledged)",
                "f@db-1 (leader db-0, acknowledged)",
                "g@db-2 (leader db-0, acknowledged)",
                "h@db-1 (leader db-0, acknowledged)",
                "i@db-1 (leader db-0, acknowledged)"
            ]
        );
        assert_eq!(
            report.longest_unavailability[0],
            (Fault::KillLeader, ms(1100))
        );
        assert!(report.over_bound.is_empty());
    }

    #[test]
    fn a_failure_that_says_not_applied_must_not_be_on_the_final_leader() {
        let t0 = Instant::now();
        let failed = |kind, key| {
            let error = Error::NoMaster {
                waited: Duration::from_secs(3),
            };
            request(kind, key, "db-0", t0, Outcome::typed(&error))
        };
        let history = [
            failed(Kind::Write, "held"),
            failed(Kind::Write, "absent"),
            failed(Kind::Transaction, "held-tx"),
            request(Kind::Write, "unknown", "db-0", t0, Outcome::raw(&"reset")),
        ];
        let bounds = Bounds {
            write: Duration::from_secs(1),
            read: Duration::ZERO,
            read_your_writes: Duration::ZERO,
            transaction: Duration::from_secs(1),
        };
        let report = check(&history, &[], bounds, |key| key != "absent");
        assert_eq!(
            report.failed_yet_applied,
            [
                "held@db-0: no master after 3s",
                "held-tx@db-0: no master after 3s"
            ],
            "an unknown outcome may be there"
        );
        assert_eq!(report.transactions_failed, 1);
        assert_eq!(report.transactions_failed_unknown, 0);
        assert_eq!(report.failed, 3, "transactions are counted apart");
    }

    #[test]
    fn read_your_writes_misses_and_replica_share_are_counted() {
        let t0 = Instant::now();
        let ryw = |key, pod, outcome| request(Kind::ReadYourWrite, key, pod, t0, outcome);
        let history = [
            ryw("a", "db-1", Outcome::Ok),
            ryw("b", "db-0", Outcome::Ok),
            ryw("c", "db-2", Outcome::Missed),
            ryw("d", "db-2", Outcome::raw(&"broken pipe")),
            ryw("lost", "db-2", Outcome::Missed),
        ];
        let bounds = Bounds {
            write: Duration::ZERO,
            read: Duration::ZERO,
            read_your_writes: Duration::from_secs(1),
            transaction: Duration::ZERO,
        };
        let report = check(&history, &[], bounds, |key| key != "lost");
        assert_eq!(report.read_your_writes, 2);
        assert_eq!(report.read_your_writes_of_lost_writes, 1);
        assert_eq!(
            report.read_your_writes_on_replicas, 1,
            "a; b was the leader"
        );
        assert_eq!(report.read_your_writes_missed, ["c@db-2"]);
        assert_eq!(report.read_your_writes_failed, 1);
        assert_eq!(report.reads_failed_outside_faults, 1);
        assert_eq!(report.raw_failures(), 1);
        assert!(report.sent_to_non_leader.is_empty(), "reads are not writes");
    }

    #[test]
    fn a_write_counts_its_latency_for_the_fault_it_was_issued_in() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let faults = [
            window(Fault::KillLeader, "db-0", ms(0), ms(100)),
            window(Fault::Switchover, "db-1", ms(300), ms(350)),
        ];
        let write = |from, to| {
            let mut w = request(Kind::Write, "a", "db-1", ms(from), Outcome::Ok);
            w.ended = ms(to);
            w
        };
        let table = [
            // Issued in the crash, held until the switchover: the crash's wait.
            (write(50, 320), Some(Fault::KillLeader)),
            // Issued before the switchover and held by its pause: the switchover's.
            (write(290, 330), Some(Fault::Switchover)),
            (write(310, 312), Some(Fault::Switchover)),
            (write(200, 201), None),
        ];
        for (w, expected) in &table {
            let fault = latency_fault(w, &faults).map(|f| f.fault);
            assert_eq!(fault, *expected, "{:?}", w.started);
        }
        // What a write took beyond its fault's own 50 ms: 0 for one the pause explains,
        // 60 ms for one held 110 ms.
        let history = [write(290, 330), write(310, 420)];
        let bounds = Bounds {
            write: ms(1000).duration_since(t0),
            read: ms(1000).duration_since(t0),
            read_your_writes: ms(1000).duration_since(t0),
            transaction: ms(1000).duration_since(t0),
        };
        let report = check(&history, &faults, bounds, |_| true);
        assert_eq!(
            report.write_added.get(&Fault::Switchover),
            Some(&vec![Duration::ZERO, Duration::from_millis(60)])
        );
    }

    #[test]
    fn a_write_across_two_probe_rounds_is_not_judged() {
        let t0 = Instant::now();
        let mut write = Pending::start(Kind::Write, "k");
        write.pod("db-1");
        write.leader(0, (Some("db-0".to_owned()), t0));
        write.leader(
            1,
            (Some("db-0".to_owned()), t0 + Duration::from_millis(200)),
        );
        // The SDK may have named db-1 in between (a flap); the history cannot tell.
        assert!(!write.finish(Outcome::Ok).sent_to_non_leader());
    }

    #[test]
    fn schedules_are_seeded() {
        use crate::soak::Schedule;
        assert_eq!(Schedule::new(7, 5).steps, Schedule::new(7, 5).steps);
        let all = Schedule::new(7, 0).then_every_kind();
        assert_eq!(all.steps.len(), Fault::ALL.len());
    }
}
