//! Roles and routing against real redis-server pods.

mod support;

use std::time::Duration;

use headless_discovery_redis::headless_discovery::roles::Role;
use headless_discovery_redis::{Error, LeaderChoice, ReadPolicy, RoleError};
use headless_discovery_testkit::redis::RedisSpec;
use redis::AsyncCommands;
use support::{eventually, fast_config, setup};

fn roles(router: &headless_discovery_redis::RedisRouter) -> Vec<(Option<u32>, Option<Role>)> {
    router
        .topology()
        .pods
        .iter()
        .map(|p| (p.peer.ordinal(), p.role()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_with_the_master_at_ordinal_0_and_after_it_moves_to_2() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    assert_eq!(
        roles(&router),
        [
            (Some(0), Some(Role::Leader)),
            (Some(1), Some(Role::Replica)),
            (Some(2), Some(Role::Replica))
        ]
    );
    assert_eq!(
        router.topology().leader_pod().map(|m| m.peer.ordinal()),
        Some(Some(0))
    );

    s.redis.promote(2).await.expect("promote");
    eventually("redis-2 seen as master", Duration::from_secs(5), || async {
        router
            .topology()
            .leader_pod()
            .and_then(|m| m.peer.ordinal())
            == Some(2)
    })
    .await;
    assert_eq!(
        roles(&router),
        [
            (Some(0), Some(Role::Replica)),
            (Some(1), Some(Role::Replica)),
            (Some(2), Some(Role::Leader))
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_land_on_the_master_only_and_reads_spread_over_replicas() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    s.reset_stats().await;

    let mut master = router.master().await.expect("master");
    for i in 0..100 {
        master
            .set::<_, _, ()>(format!("key-{i}"), i)
            .await
            .expect("write");
    }
    assert!(s.calls(0, "set").await >= 100, "the master ran the writes");
    for replica in [1, 2] {
        assert_eq!(
            s.rejected(replica, "set").await,
            0,
            "no write was sent to redis-{replica}"
        );
    }

    s.redis.wait_for_replication().await.expect("replicated");
    let mut served = [0u64; 3];
    for i in 0..1000 {
        let mut pod = router.read(&ReadPolicy::Replica).await.expect("a replica");
        let _: Option<i64> = pod.get(format!("key-{}", i % 100)).await.expect("read");
        served[pod.pod().ordinal().expect("ordinal") as usize] += 1;
    }
    assert_eq!(served[0], 0, "no read reached the master: {served:?}");
    for replica in [1, 2] {
        assert!(
            served[replica] >= 200,
            "each replica serves at least 20 %: {served:?}"
        );
        assert!(
            s.calls(replica as u32, "get").await >= 200,
            "the pod's own stats agree: {served:?}"
        );
    }
    assert_eq!(s.calls(0, "get").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_read_policy_does_what_it_says() {
    let s = setup(RedisSpec::new("redis")).await;
    let mut config = fast_config();
    // One topology for the whole test (rounds only on `refresh`), so that the fastest pod
    // it names is the one `LowestLatency` reads.
    config.roles.probe_interval = Duration::from_secs(3600);
    let router = s.router(config).await;
    let pick = |policy: ReadPolicy| {
        let router = router.clone();
        async move {
            let pod = router.read(&policy).await.expect("a pod");
            pod.pod().ordinal().expect("ordinal")
        }
    };
    for _ in 0..20 {
        assert_eq!(pick(ReadPolicy::Leader).await, 0);
        assert_eq!(pick(ReadPolicy::LeaderPreferred).await, 0);
        assert!([1, 2].contains(&pick(ReadPolicy::Replica).await));
        assert!([1, 2].contains(&pick(ReadPolicy::ReplicaPreferred).await));
        assert!([0, 1, 2].contains(&pick(ReadPolicy::Any).await));
        assert!([0, 1, 2].contains(&pick(ReadPolicy::LowestLatency).await));
        assert_eq!(pick(ReadPolicy::Ordinal(2)).await, 2);
        assert_eq!(
            pick(ReadPolicy::custom(|p| p.hostname() == "redis-1")).await,
            1
        );
    }
    let fastest = router
        .topology()
        .pods
        .iter()
        .min_by_key(|p| p.latency)
        .and_then(|p| p.peer.ordinal());
    assert_eq!(Some(pick(ReadPolicy::LowestLatency).await), fastest);

    // Without replicas: Replica fails with the reason, ReplicaPreferred falls back.
    s.redis.kill(1).expect("kill");
    s.redis.kill(2).expect("kill");
    router.refresh();
    // A read may first fail dialling a dead replica; then the probe sees them down.
    eventually("replicas seen down", Duration::from_secs(5), || async {
        matches!(
            router.read(&ReadPolicy::Replica).await,
            Err(Error::Roles(RoleError::NoReadablePod { .. }))
        )
    })
    .await;
    let err = router
        .read(&ReadPolicy::Replica)
        .await
        .expect_err("no replica");
    assert!(
        matches!(err, Error::Roles(RoleError::NoReadablePod { .. })),
        "{err}"
    );
    assert_eq!(pick(ReadPolicy::ReplicaPreferred).await, 0);
    assert!(router.read(&ReadPolicy::Ordinal(7)).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_and_writes_through_route_go_to_the_master() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    s.reset_stats().await;
    let mut master = router.master().await.expect("master");
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .incr("tx", 1)
        .incr("tx", 1)
        .query_async(&mut master)
        .await
        .expect("MULTI/EXEC");
    assert_eq!((a, b), (1, 2));
    assert!(s.calls(0, "exec").await >= 1);
    // Replicas run the master's replicated MULTI/EXEC too; one sent to them would be rejected.
    for replica in [1, 2] {
        assert_eq!(
            s.rejected(replica, "incr").await,
            0,
            "no transaction sent to redis-{replica}"
        );
    }

    let value = router
        .route(redis::cmd("INCR").arg("tx"))
        .await
        .expect("a write through route");
    assert_eq!(value, redis::Value::Int(3));
    s.redis.wait_for_replication().await.expect("replicated");
    let read = router
        .route(redis::cmd("GET").arg("tx"))
        .await
        .expect("read");
    assert!(
        matches!(read, redis::Value::BulkString(ref b) if b == b"3"),
        "{read:?}"
    );
    assert!(s.calls(1, "get").await + s.calls(2, "get").await == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn split_brain_follows_the_replicas_or_refuses_writes() {
    let s = setup(RedisSpec::new("redis").replicas(4)).await;
    // redis-1 promoted behind everyone's back; redis-2 follows it, redis-3 stays on redis-0.
    let mut one = s.redis.connect(1).await.expect("conn");
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut one)
        .await
        .expect("promote");
    s.redis.make_replica_of(2, 1).await.expect("repoint");
    // A split brain is waited out like a failover: this one does not settle in time.
    let mut config = fast_config();
    config.roles.failover_wait = Duration::from_millis(600);
    let router = s.router(config).await;
    assert!(
        matches!(router.topology().leader, LeaderChoice::Ambiguous(_)),
        "{:?}",
        router.topology().leader
    );
    let err = router
        .master()
        .await
        .expect_err("two masters, two followings");
    assert!(
        matches!(err, Error::Roles(RoleError::SplitBrain { .. })),
        "{err}"
    );

    s.redis.make_replica_of(3, 1).await.expect("repoint");
    eventually("the replicas settle it", Duration::from_secs(5), || async {
        router
            .topology()
            .leader_pod()
            .and_then(|m| m.peer.ordinal())
            == Some(1)
    })
    .await;
    let master = router.master().await.expect("master");
    assert_eq!(master.pod().ordinal(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_names_the_pod_and_never_shows_the_password() {
    let s = setup(RedisSpec::new("redis").replicas(1).password("s3cret-pw")).await;
    let mut config = fast_config();
    config.password = Some(headless_discovery_redis::Secret::new("wrong-pw"));
    // Refused credentials are no failover: the request must fail at once, not after this.
    config.roles.failover_wait = Duration::from_secs(120);
    let router = s.router(config).await;
    let pod = &router.topology().pods[0];
    let error = pod.error.clone().expect("the probe failed");
    assert!(error.contains("redis-0"), "{error}");
    let err = router.master().await.expect_err("no master without auth");
    assert_every_pod_rejects(&err, router.topology().pods.len());
    for shown in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{:?}", router.config()),
        format!("{:?}", router.topology()),
    ] {
        assert!(
            !shown.contains("wrong-pw") && !shown.contains("s3cret-pw"),
            "{shown}"
        );
    }

    // No password at all: every command is answered NOAUTH.
    let mut config = fast_config();
    config.roles.failover_wait = Duration::from_secs(120);
    let router = s.router(config).await;
    let err = router.master().await.expect_err("no master without auth");
    assert_every_pod_rejects(&err, router.topology().pods.len());
    assert!(err.to_string().contains("NOAUTH"), "{err}");

    let mut config = fast_config();
    config.password = Some(headless_discovery_redis::Secret::new("s3cret-pw"));
    let router = s.router(config).await;
    let mut master = router
        .master()
        .await
        .expect("master with the right password");
    master.set::<_, _, ()>("k", 1).await.expect("write");
}

/// `error` says that every one of `pods` pods rejects the client, and is not transient.
fn assert_every_pod_rejects(error: &Error, pods: usize) {
    match error {
        Error::Roles(RoleError::Rejected { pods: rejected, .. }) => {
            assert!(pods > 0 && rejected.len() == pods, "{pods} pods: {error}");
        }
        other => panic!("expected every pod to reject the client, got {other:?}"),
    }
    assert!(!error.is_transient(), "{error}");
}
