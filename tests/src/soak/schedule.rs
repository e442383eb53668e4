//! What the soak does to a set: [`Fault`]s, drawn into a seeded [`Schedule`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// One fault of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL the leader, promote a replica, bring the old leader back as its replica.
    KillLeader,
    /// SIGSTOP a pod for a while, then SIGCONT.
    Freeze {
        /// The leader, or a replica.
        leader: bool,
    },
    /// SIGSTOP the leader, promote a replica while it is frozen, SIGCONT it, and only
    /// then repoint it (as Sentinel or an operator does once it sees the old leader
    /// again). Nothing fences the old leader in between.
    FailoverFromFrozen,
    /// A planned switchover done the safe way (the testkit's `switchover` / `promote`).
    Switchover,
    /// The DNS server answers SERVFAIL for a while.
    DnsServFail,
    /// The DNS server does not answer for a while.
    DnsSilence,
    /// A replica is replaced by a pod with a new IP (a rolling update).
    ReplacePod,
}

impl Fault {
    /// Every kind, in the order schedules draw from.
    pub const ALL: [Fault; 8] = [
        Fault::KillLeader,
        Fault::Freeze { leader: false },
        Fault::Freeze { leader: true },
        Fault::FailoverFromFrozen,
        Fault::Switchover,
        Fault::DnsServFail,
        Fault::DnsSilence,
        Fault::ReplacePod,
    ];

    /// Whether the fault may lose acknowledged writes: asynchronous replication loses the
    /// unreplicated tail of a killed leader, and a frozen leader that nobody fences keeps
    /// acknowledging writes that its rejoin then drops.
    pub fn may_lose_writes(self) -> bool {
        matches!(self, Fault::KillLeader | Fault::FailoverFromFrozen)
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
        let steps = (0..faults)
            .map(|_| {
                let pause = Duration::from_millis(rng.random_range(100..400));
                (pause, Fault::ALL[rng.random_range(0..Fault::ALL.len())])
            })
            .collect();
        Self { seed, steps }
    }

    /// This schedule, then each kind of fault once more, 200 ms apart: every kind runs.
    #[must_use]
    pub fn then_every_kind(mut self) -> Self {
        let pause = Duration::from_millis(200);
        self.steps.extend(Fault::ALL.map(|fault| (pause, fault)));
        self
    }
}

/// When a fault happened, to which pod, and when it was healed.
#[derive(Debug, Clone)]
pub struct FaultWindow {
    /// Which fault.
    pub fault: Fault,
    /// The pod it hit (hostname), or empty for DNS faults.
    pub pod: String,
    /// When it started.
    pub started: Instant,
    /// When it was healed.
    pub healed: Instant,
    /// Soak writes that only the hit pod held when it rejoined, which the rejoin dropped
    /// (a frozen old leader's writes after SIGCONT).
    pub stranded: usize,
    /// For a fault that replaces the leader: the soak keys the new leader held once it
    /// took over (a kill: right after the promotion; a frozen failover: at the old
    /// leader's rejoin). An acknowledged write of the old leader missing there is what
    /// the fault lost; nothing else is.
    pub survivors: Option<Arc<HashSet<String>>>,
}

impl FaultWindow {
    /// Whether a request from `started` to `ended` overlaps the fault, counting `bound`
    /// after the heal as part of it (requests sent during the fault may end that late).
    pub fn overlaps(&self, started: Instant, ended: Instant, bound: Duration) -> bool {
        ended >= self.started && started <= self.healed + bound
    }
}
