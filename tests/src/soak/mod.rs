//! A fault soak with a history checker: a seeded schedule of faults on a real
//! StatefulSet while clients write unique values and read them through the SDK, then a
//! check of what the history says against what the final leader holds.
//!
//! The schedule, history and checker are store-neutral; [`redis`] and [`mysql`] drive a
//! real Redis and MariaDB set with them. `tests/tests/soak.rs` runs a short seeded
//! schedule of each in CI; `tests/benches/soak.rs` runs the long ones for BENCHMARKS.md.

use std::future::Future;
use std::time::{Duration, Instant};

use headless_discovery_testkit::{Cluster, Fault as DnsFault};

mod check;
mod history;
pub mod mysql;
pub mod redis;
mod schedule;

pub use check::{Bounds, Report, check};
pub use history::{Kind, Outcome, Pending, RAW, Request, Sent, requests};
pub use schedule::{Fault, FaultWindow, Schedule};

/// What a fault hit.
#[derive(Debug, Clone, Default)]
pub struct Hit {
    /// The pod (hostname), or empty for DNS faults.
    pub pod: String,
    /// Soak writes only that pod held when it rejoined (see [`FaultWindow::stranded`]).
    pub stranded: usize,
    /// See [`FaultWindow::survivors`].
    pub survivors: Option<std::sync::Arc<std::collections::HashSet<String>>>,
}

/// A set the soak can hurt and heal.
pub trait Target {
    /// Applies `fault` and heals it.
    fn inject(&mut self, fault: Fault) -> impl Future<Output = Hit>;
}

/// Plays `schedule` on `target`: each pause, then each fault, recorded with its window.
pub async fn play(schedule: &Schedule, target: &mut impl Target) -> Vec<FaultWindow> {
    let mut windows = Vec::new();
    for (pause, fault) in &schedule.steps {
        tokio::time::sleep(*pause).await;
        let started = Instant::now();
        let hit = target.inject(*fault).await;
        windows.push(FaultWindow {
            fault: *fault,
            pod: hit.pod,
            started,
            healed: Instant::now(),
            stranded: hit.stranded,
            survivors: hit.survivors,
        });
    }
    // Let the last fault's requests finish inside the history.
    tokio::time::sleep(Duration::from_millis(300)).await;
    windows
}

/// How long the leader stays frozen before a replica is promoted over it, and after.
pub const FREEZE: Duration = Duration::from_millis(400);

/// How long a DNS fault lasts.
pub const DNS_FAULT: Duration = Duration::from_millis(600);

/// How long a thawed old leader runs unfenced before it rejoins: long enough to apply
/// what queued up while it was frozen.
pub const UNFENCED: Duration = Duration::from_millis(200);

/// Makes the DNS server answer SERVFAIL, or nothing, for [`DNS_FAULT`].
///
/// # Panics
///
/// For any other fault (a bug in the caller).
pub async fn dns_fault(cluster: &Cluster, fault: Fault) -> Hit {
    cluster.set_fault(match fault {
        Fault::DnsServFail => DnsFault::ServFail,
        Fault::DnsSilence => DnsFault::NoAnswer,
        other => panic!("{other:?} is not a DNS fault"),
    });
    tokio::time::sleep(DNS_FAULT).await;
    cluster.set_fault(DnsFault::None);
    Hit::default()
}
