//! The short seeded fault soaks, in CI: every kind of fault (SIGKILL, SIGSTOP of a
//! replica and of the leader, a failover over a frozen leader, a safe switchover, DNS
//! SERVFAIL and silence, a pod replaced) on a real Redis set and a real MariaDB set,
//! while clients write and read through the SDK. The long runs are
//! `tests/benches/soak.rs`.

use discovery_e2e::soak::{Fault, Report, Schedule, mysql, redis};

/// What must hold after any schedule, on either store.
fn assert_sound(report: &Report) {
    eprintln!("{report}");
    assert!(report.acknowledged > 100, "{report}");
    assert!(
        report.lost.is_empty(),
        "acknowledged writes lost with no fault to explain them: {:?}\n{report}",
        report.lost
    );
    assert!(
        report.sent_to_non_leader.is_empty(),
        "writes sent to a pod the SDK did not name leader: {:?}\n{report}",
        report.sent_to_non_leader
    );
    assert!(
        report.over_bound.is_empty(),
        "requests over their bound: {:?}\n{report}",
        report.over_bound
    );
    assert!(
        report.failed_yet_applied.is_empty(),
        "failed as not applied, yet on the final leader: {:?}\n{report}",
        report.failed_yet_applied
    );
    assert_eq!(report.failed_outside_faults, 0, "{report}");
    assert_eq!(report.reads_failed_outside_faults, 0, "{report}");
    assert!(report.reads > 100, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fault_schedule_on_redis_loses_no_write_it_should_keep() {
    let schedule = Schedule::new(3, 4).then_every_kind();
    let report = redis::run(&schedule, 2).await;
    assert_sound(&report);
    assert_reads_see_their_writes(&report);
    assert_sound_through_planned_switchovers(&report);
}

/// Every path is typed, and a switchover done the safe way costs no write: what the old
/// leader refused waits for the new one.
fn assert_sound_through_planned_switchovers(report: &Report) {
    assert_eq!(
        report.raw_failures(),
        0,
        "every path here is typed\n{report}"
    );
    assert_eq!(
        report.failed_during(Fault::Switchover),
        0,
        "writes failed in a planned switchover\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fault_schedule_on_mariadb_keeps_writes_and_reads_them_back() {
    headless_discovery_testkit::init_tracing();
    let schedule = Schedule::new(5, 3).then_every_kind();
    let report = mysql::run(&schedule).await;
    assert_sound(&report);
    assert_sound_through_planned_switchovers(&report);
    assert_reads_see_their_writes(&report);
    // Transactions on a held session fail in faults (a session never moves), and only
    // there.
    assert!(report.transactions > 50, "{report}");
    assert_eq!(report.transactions_failed_outside_faults, 0, "{report}");
}

/// No read with a token misses its write (one the cluster lost aside).
fn assert_reads_see_their_writes(report: &Report) {
    assert!(report.read_your_writes > 50, "{report}");
    assert!(
        report.read_your_writes_missed.is_empty(),
        "read-your-writes reads without their write: {:?}\n{report}",
        report.read_your_writes_missed
    );
}
