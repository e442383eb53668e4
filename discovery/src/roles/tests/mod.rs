//! Decision tables for the engine, over a report type of the tests' own: the leader
//! choice, read placement per policy, unfit reasons and lag.

use std::time::Duration;

use super::*;
use crate::{Peer, PeerKey};

/// A report reduced to what the engine reads.
#[derive(Debug, Clone)]
struct Fake {
    role: Role,
    follows: Option<u32>,
    unfit: Option<Unfit>,
    /// Bytes behind, measured against the leader (as Redis offsets are).
    behind: Option<u64>,
}

impl Report for Fake {
    fn role(&self) -> Role {
        self.role
    }

    fn follows(&self, leader: &Peer) -> bool {
        self.follows.is_some() && self.follows == leader.ordinal()
    }

    fn unfit(&self) -> Option<Unfit> {
        self.unfit.clone()
    }

    fn lag(&self, _me: &Peer, leader: Option<(&Self, &Peer)>) -> Lag {
        Lag::new(leader.and(self.behind), None)
    }
}

fn peer(ordinal: u32) -> Peer {
    Peer::new(
        &format!("db-{ordinal}.db.default.svc.cluster.local"),
        (std::net::Ipv4Addr::new(10, 0, 0, ordinal as u8 + 1), 1).into(),
    )
}

fn key(ordinal: u32) -> PeerKey {
    peer(ordinal).key()
}

fn leader(ordinal: u32) -> PodStatus<Fake> {
    pod(ordinal, Role::Leader, None)
}

fn replica(ordinal: u32, of: u32) -> PodStatus<Fake> {
    pod(ordinal, Role::Replica, Some(of))
}

fn pod(ordinal: u32, role: Role, follows: Option<u32>) -> PodStatus<Fake> {
    let report = Fake {
        role,
        follows,
        unfit: None,
        behind: Some(0),
    };
    let latency = Duration::from_micros(100 + u64::from(ordinal));
    PodStatus::answered(peer(ordinal), report, latency)
}

fn down(ordinal: u32) -> PodStatus<Fake> {
    PodStatus::unanswered(peer(ordinal), "connection refused")
}

fn with(mut pod: PodStatus<Fake>, change: impl FnOnce(&mut Fake)) -> PodStatus<Fake> {
    if let Some(report) = pod.report.as_mut() {
        change(report);
    }
    pod
}

fn topology(pods: Vec<PodStatus<Fake>>) -> Topology<Fake> {
    Topology::new(pods, &RoleOpts::default(), Duration::ZERO)
}

#[test]
fn the_leader_is_who_the_pods_say_never_an_ordinal() {
    use LeaderChoice as L;
    let loading = with(leader(0), |r| r.unfit = Some(Unfit::Loading));
    type Case = (
        &'static str,
        Vec<PodStatus<Fake>>,
        Option<u32>,
        LeaderChoice,
    );
    let table: Vec<Case> = vec![
        (
            "one leader, wherever it is",
            vec![replica(0, 2), replica(1, 2), leader(2)],
            None,
            L::One(key(2)),
        ),
        (
            "nobody leads",
            vec![down(0), replica(1, 0)],
            Some(0),
            L::None,
        ),
        (
            "a loading leader does not lead yet",
            vec![loading, replica(1, 0)],
            None,
            L::None,
        ),
        (
            "a neither-nor pod never leads",
            vec![pod(0, Role::Other, None), replica(1, 0)],
            Some(0),
            L::None,
        ),
        (
            "two leaders: the followed one",
            vec![leader(0), leader(1), replica(2, 1)],
            Some(0),
            L::One(key(1)),
        ),
        (
            "two followed: ambiguous",
            vec![leader(0), leader(1), replica(2, 0), replica(3, 1)],
            None,
            L::Ambiguous(vec![key(0), key(1)]),
        ),
        (
            "two followed, tie-break among them",
            vec![leader(0), leader(1), replica(2, 0), replica(3, 1)],
            Some(1),
            L::One(key(1)),
        ),
        (
            "a tie-break outside the claimants is ignored",
            vec![leader(0), leader(1), replica(2, 0), replica(3, 1)],
            Some(3),
            L::Ambiguous(vec![key(0), key(1)]),
        ),
        (
            "none followed, tie-break among all",
            vec![leader(0), leader(1)],
            Some(0),
            L::One(key(0)),
        ),
    ];
    for (case, pods, tie_break, expected) in table {
        assert_eq!(choose_leader(&pods, tie_break), expected, "{case}");
    }
}

#[test]
fn replicas_are_unfit_for_reasons_that_are_data() {
    let opts = RoleOpts::default().max_lag_bytes(Some(100));
    let pods = vec![
        leader(0),
        replica(1, 0),
        down(2),
        with(replica(3, 0), |r| r.unfit = Some(Unfit::LinkDown)),
        replica(4, 9),
        with(replica(5, 0), |r| r.behind = Some(101)),
        with(replica(6, 0), |r| r.behind = None),
        pod(7, Role::Other, None),
    ];
    let topology = Topology::new(pods.clone(), &opts, Duration::ZERO);
    let reasons = topology.unfit_reasons();
    let expected = vec![
        (key(0), Unfit::Role { role: Role::Leader }),
        (
            key(2),
            Unfit::NoAnswer {
                error: "connection refused".to_owned(),
            },
        ),
        (key(3), Unfit::LinkDown),
        (key(4), Unfit::FollowsAnother),
        (key(5), Unfit::BehindBytes { lag: 101, max: 100 }),
        (key(7), Unfit::Role { role: Role::Other }),
    ];
    assert_eq!(reasons, expected, "an unknown lag is no reason");
    let fit: Vec<_> = topology
        .fit_replicas()
        .iter()
        .map(|p| p.peer.ordinal())
        .collect();
    assert_eq!(fit, [Some(1), Some(6)]);
    let off = Topology::new(pods, &opts.max_lag_bytes(None), Duration::ZERO);
    let fit: Vec<_> = off
        .fit_replicas()
        .iter()
        .map(|p| p.peer.ordinal())
        .collect();
    assert_eq!(fit, [Some(1), Some(5), Some(6)], "limits can be turned off");
}

#[test]
fn lag_is_measured_only_against_the_leader_a_replica_follows() {
    let topology = topology(vec![leader(0), replica(1, 0), replica(2, 5)]);
    assert_eq!(topology.pods[1].lag.bytes, Some(0));
    assert_eq!(topology.pods[2].lag.bytes, None);
    let without_leader = self::topology(vec![down(0), replica(1, 0)]);
    assert_eq!(without_leader.pods[1].lag.bytes, None);
}

/// Where a policy sends a read: `Some((ordinals it may land on, fallback))`, or `None` for
/// an error.
type Placed = Option<(Vec<u32>, bool)>;

fn placed(topology: &Topology<Fake>, policy: &ReadPolicy) -> Placed {
    let read = topology.read(policy).ok()?;
    let ordinals = match &read.target {
        Target::Pod(pod) => vec![pod.peer.ordinal()?],
        Target::Replicas(pods) => pods.iter().filter_map(|p| p.peer.ordinal()).collect(),
    };
    Some((ordinals, read.fallback))
}

#[test]
fn each_policy_places_reads_and_says_when_it_fell_back() {
    use ReadPolicy as P;
    let healthy = topology(vec![leader(0), replica(1, 0), replica(2, 0)]);
    let no_replica = topology(vec![leader(0), down(1)]);
    let no_leader = topology(vec![down(0), replica(1, 0), replica(2, 0)]);
    let odd = P::custom(|p| p.ordinal().is_some_and(|o| o % 2 == 1));
    type Case<'a> = (&'a Topology<Fake>, ReadPolicy, Placed);
    let table: Vec<Case<'_>> = vec![
        (&healthy, P::Leader, Some((vec![0], false))),
        (&healthy, P::LeaderPreferred, Some((vec![0], false))),
        (&healthy, P::Replica, Some((vec![1, 2], false))),
        (&healthy, P::ReplicaPreferred, Some((vec![1, 2], false))),
        (&healthy, P::LowestLatency, Some((vec![0], false))),
        (&healthy, P::Ordinal(2), Some((vec![2], false))),
        (&healthy, P::Ordinal(7), None),
        (&healthy, odd.clone(), Some((vec![1], false))),
        (&no_replica, P::Replica, None),
        (&no_replica, P::ReplicaPreferred, Some((vec![0], true))),
        (&no_replica, P::Ordinal(1), None),
        (&no_leader, P::Leader, None),
        (&no_leader, P::LeaderPreferred, Some((vec![1, 2], true))),
        (&no_leader, P::ReplicaPreferred, Some((vec![1, 2], false))),
        (&no_leader, P::LowestLatency, Some((vec![1], false))),
    ];
    for (topology, policy, expected) in table {
        assert_eq!(
            placed(topology, &policy),
            expected,
            "{policy} in {:?}",
            topology.leader
        );
    }
    for _ in 0..50 {
        let any = placed(&healthy, &P::Any).expect("any pod");
        assert!(any.0.len() == 1 && any.0[0] <= 2 && !any.1, "{any:?}");
    }
}

#[test]
fn a_read_that_failed_goes_to_another_pod_of_its_placement() {
    let healthy = topology(vec![leader(0), replica(1, 0), replica(2, 0)]);
    let other = |policy: ReadPolicy, failed: u32| {
        let read = healthy.read(&policy).expect("placed");
        read.other_than(&peer(failed))
            .and_then(|pod| pod.peer.ordinal())
    };
    for _ in 0..20 {
        assert_eq!(other(ReadPolicy::Replica, 1), Some(2));
        assert_eq!(other(ReadPolicy::Replica, 2), Some(1));
    }
    assert_eq!(
        other(ReadPolicy::Ordinal(1), 1),
        None,
        "its only pod failed"
    );
    assert_eq!(other(ReadPolicy::Leader, 1), Some(0));
    let one_replica = topology(vec![leader(0), replica(1, 0)]);
    let read = one_replica.read(&ReadPolicy::Replica).expect("placed");
    assert!(read.other_than(&peer(1)).is_none(), "no other replica");
}

/// `pod` with its peer placed in `zone`, on node `<zone>-n<ordinal>`, and draining or not.
fn placed_in(mut pod: PodStatus<Fake>, zone: &str, draining: bool) -> PodStatus<Fake> {
    let ordinal = pod.peer.ordinal().unwrap_or(0);
    pod.peer = pod
        .peer
        .clone()
        .with_zone(zone)
        .with_node(format!("{zone}-n{ordinal}"))
        .with_draining(draining);
    pod
}

#[test]
fn locality_prefers_local_fit_replicas_and_falls_back_visibly() {
    use ReadPolicy as P;
    let zoned = topology(vec![
        placed_in(leader(0), "a", false),
        placed_in(replica(1, 0), "a", false),
        placed_in(replica(2, 0), "b", false),
        placed_in(replica(3, 0), "b", false),
    ]);
    // The only replica in zone a is draining: it is unfit, and reads leave the zone.
    let local_draining = topology(vec![
        placed_in(leader(0), "a", false),
        placed_in(replica(1, 0), "a", true),
        placed_in(replica(2, 0), "b", false),
    ]);
    let no_replica = topology(vec![placed_in(leader(0), "a", false), down(1)]);
    type Case<'a> = (&'a Topology<Fake>, ReadPolicy, Placed);
    let table: Vec<Case<'_>> = vec![
        (&zoned, P::same_zone("a"), Some((vec![1], false))),
        (&zoned, P::same_zone("b"), Some((vec![2, 3], false))),
        (&zoned, P::same_zone("c"), Some((vec![1, 2, 3], true))),
        (&zoned, P::same_node("b-n3"), Some((vec![3], false))),
        (&zoned, P::same_node("a-n0"), Some((vec![1, 2, 3], true))),
        (&local_draining, P::same_zone("a"), Some((vec![2], true))),
        (&local_draining, P::Replica, Some((vec![2], false))),
        (&no_replica, P::same_zone("a"), Some((vec![0], true))),
    ];
    for (topology, policy, expected) in table {
        assert_eq!(placed(topology, &policy), expected, "{policy}");
    }
    assert!(
        local_draining
            .unfit_reasons()
            .iter()
            .any(|(k, why)| *k == key(1) && *why == Unfit::Draining)
    );
}

#[test]
fn a_refused_read_names_each_pod_and_its_reason() {
    let topology = topology(vec![leader(0), down(1), replica(2, 5)]);
    let reasons = topology
        .read(&ReadPolicy::Replica)
        .expect_err("no fit replica");
    let error = RoleError::NoReadablePod {
        service: "db.default".to_owned(),
        policy: ReadPolicy::Replica,
        reasons,
        leader: topology.leader.clone(),
    };
    let text = error.to_string();
    for part in [
        "db-0 is leader",
        "db-1 did not answer (connection refused)",
        "db-2 follows a pod other than the leader",
        "with Replica",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    let split = RoleError::SplitBrain {
        service: "db.default".to_owned(),
        claimants: vec![key(0), key(1)],
        waited: std::time::Duration::from_secs(5),
    };
    assert!(split.to_string().contains("(db-0, db-1)"), "{split}");
    assert!(split.to_string().contains("within 5s"), "{split}");
}

#[test]
fn read_policies_come_from_config_files_by_name() {
    let parse = |text: &str| serde_json::from_str::<ReadPolicy>(text).map(|p| p.to_string());
    assert_eq!(parse(r#""leader""#).ok().as_deref(), Some("Leader"));
    assert_eq!(
        parse(r#""replica_preferred""#).ok().as_deref(),
        Some("ReplicaPreferred")
    );
    assert_eq!(
        parse(r#""lowest_latency""#).ok().as_deref(),
        Some("LowestLatency")
    );
    assert_eq!(
        parse(r#"{ "ordinal": 2 }"#).ok().as_deref(),
        Some("Ordinal(2)")
    );
    assert_eq!(
        parse(r#"{ "same_zone": "eu-west-1a" }"#).ok().as_deref(),
        Some("SameZone(eu-west-1a)")
    );
    assert_eq!(
        parse(r#"{ "same_node": "node-7" }"#).ok().as_deref(),
        Some("SameNode(node-7)")
    );
    assert!(parse(r#""master""#).is_err(), "one vocabulary: leader");
    assert!(parse(r#""custom""#).is_err());
}

mod replica_discover;
mod transitions;
