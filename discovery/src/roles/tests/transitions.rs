//! What the prober logs between two rounds: role changes, failovers with their
//! durations, replicas losing and regaining fitness.

use std::time::Duration;

use super::super::changes::{ChangeLog, Transition};
use super::*;

/// A topology probed `at` after the first.
fn round(at: u64, pods: Vec<PodStatus<Fake>>) -> Topology<Fake> {
    let mut topology = topology(pods);
    topology.probed_at = START.with(|start| *start) + Duration::from_millis(at);
    topology
}

thread_local! {
    static START: std::time::Instant = std::time::Instant::now();
}

#[test]
fn a_crash_failover_is_seen_as_lost_then_found_with_its_duration() {
    let mut log = ChangeLog::default();
    let rounds = [
        round(0, vec![leader(0), replica(1, 0), replica(2, 0)]),
        round(100, vec![down(0), replica(1, 0), replica(2, 0)]),
        round(200, vec![down(0), replica(1, 0), replica(2, 0)]),
        round(700, vec![down(0), leader(1), replica(2, 1)]),
        round(800, vec![replica(0, 1), leader(1), replica(2, 1)]),
    ];
    let seen: Vec<Vec<Transition>> = rounds
        .windows(2)
        .map(|pair| log.transitions(&pair[0], &pair[1]))
        .collect();
    let expected = vec![
        // A pod that stops answering reports no role.
        vec![
            Transition::RoleChanged {
                pod: key(0),
                from: Some(Role::Leader),
                to: None,
            },
            Transition::LeaderLost,
        ],
        vec![],
        vec![
            Transition::RoleChanged {
                pod: key(1),
                from: Some(Role::Replica),
                to: Some(Role::Leader),
            },
            Transition::LeaderFound {
                leader: key(1),
                // Counted from the last round that still had the leader.
                after: Some(Duration::from_millis(700)),
            },
        ],
        vec![Transition::RoleChanged {
            pod: key(0),
            from: None,
            to: Some(Role::Replica),
        }],
    ];
    assert_eq!(seen, expected);
}

#[test]
fn a_planned_switchover_is_a_move_and_a_split_brain_is_named() {
    let mut log = ChangeLog::default();
    let before = round(0, vec![leader(0), replica(1, 0)]);
    let moved = round(10, vec![replica(0, 1), leader(1)]);
    assert_eq!(
        log.transitions(&before, &moved),
        vec![
            Transition::RoleChanged {
                pod: key(0),
                from: Some(Role::Leader),
                to: Some(Role::Replica),
            },
            Transition::RoleChanged {
                pod: key(1),
                from: Some(Role::Replica),
                to: Some(Role::Leader),
            },
            Transition::LeaderMoved {
                from: key(0),
                to: key(1),
            },
        ]
    );
    let split = round(20, vec![leader(0), leader(1)]);
    let changes = log.transitions(&moved, &split);
    assert_eq!(
        changes.last(),
        Some(&Transition::SplitBrain {
            claimants: vec![key(0), key(1)],
        })
    );
    let settled = round(50, vec![leader(0), replica(1, 0)]);
    assert_eq!(
        log.transitions(&split, &settled).last(),
        Some(&Transition::LeaderFound {
            leader: key(0),
            after: Some(Duration::from_millis(40)),
        })
    );
}

#[test]
fn losing_the_last_fit_replica_is_said_once_with_reasons_and_so_is_its_return() {
    let mut log = ChangeLog::default();
    let fit = round(0, vec![leader(0), replica(1, 0)]);
    let linkdown = || {
        round(
            10,
            vec![
                leader(0),
                with(replica(1, 0), |r| r.unfit = Some(Unfit::LinkDown)),
            ],
        )
    };
    assert_eq!(
        log.transitions(&fit, &linkdown()),
        vec![Transition::NoFitReplica {
            reasons: vec![
                (key(0), Unfit::Role { role: Role::Leader }),
                (key(1), Unfit::LinkDown),
            ],
        }]
    );
    assert_eq!(log.transitions(&linkdown(), &linkdown()), vec![]);
    assert_eq!(
        log.transitions(&linkdown(), &fit),
        vec![Transition::ReplicasFit { fit: 1 }]
    );
    // One pod alone has no replica to lose.
    let single = round(0, vec![leader(0)]);
    assert_eq!(log.transitions(&single, &single), vec![]);
}
