//! The tower services, with real redis-server pods.

mod support;

use std::time::Duration;

use headless_discovery_redis::service::ReplicaDiscover;
use headless_discovery_redis::{Error, RoleError};
use headless_discovery_testkit::redis::RedisSpec;
use redis::Value;
use support::{fast_config, setup};
use tower::balance::p2c::Balance;
use tower::load::Load;
use tower::{Service, ServiceBuilder, ServiceExt};

fn get(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key);
    cmd
}

/// One GET of `k` through `reads`, which must answer `v`.
#[allow(
    clippy::manual_async_fn,
    reason = "as an async fn, its future is not provably Send inside tokio::spawn"
)]
fn read_v<S>(reads: &mut S) -> impl Future<Output = ()> + Send + '_
where
    S: Service<redis::Cmd, Response = Value> + Send,
    S::Future: Send,
    S::Error: std::fmt::Debug,
{
    async move {
        let ready = reads.ready().await.expect("ready");
        let value = ready.call(get("k")).await.expect("read");
        assert_eq!(value, Value::BulkString(b"v".to_vec()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_balanced_replica_service_spreads_reads_over_healthy_replicas() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut writes = router.master_service();
    let mut set = redis::cmd("SET");
    set.arg("k").arg("v");
    assert_eq!(
        writes
            .ready()
            .await
            .expect("ready")
            .call(set)
            .await
            .expect("write"),
        Value::Okay
    );
    s.redis.wait_for_replication().await.expect("replicated");
    s.reset_stats().await;

    // 1000 reads from 16 concurrent callers through a Buffer, with a timeout layer.
    let reads = ServiceBuilder::new()
        .buffer(64)
        .timeout(Duration::from_secs(2))
        .service(router.replica_service());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let mut reads = reads.clone();
            tokio::spawn(async move {
                for _ in 0..1000 / 16 + 1 {
                    read_v(&mut reads).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("reader");
    }
    let (one, two) = (s.calls(1, "get").await, s.calls(2, "get").await);
    let total = one + two;
    assert!(total >= 1000, "{total}");
    assert_eq!(s.calls(0, "get").await, 0, "no read on the master");
    for (pod, served) in [(1, one), (2, two)] {
        assert!(
            served * 5 >= total,
            "redis-{pod} served {served} of {total}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn towers_own_balancer_takes_the_replica_discover_as_is() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut set = redis::cmd("SET");
    set.arg("k").arg("v");
    let mut writes = router.master().await.expect("master");
    set.query_async::<()>(&mut writes).await.expect("write");
    s.redis.wait_for_replication().await.expect("replicated");
    s.reset_stats().await;

    // Pod services carry their own peak-EWMA load, so tower's p2c needs no wrapper.
    let mut reads = Balance::new(ReplicaDiscover::new(&router));
    for _ in 0..200 {
        read_v(&mut reads).await;
    }
    let (one, two) = (s.calls(1, "get").await, s.calls(2, "get").await);
    assert_eq!(one + two, 200, "every read on a replica");
    assert!(one > 0 && two > 0, "both replicas served: {one} / {two}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_healthy_replica_the_balanced_service_fails_within_the_bound() {
    let s = setup(RedisSpec::new("redis").replicas(2)).await;
    let mut config = fast_config();
    config.roles.failover_wait = Duration::from_millis(500);
    let router = s.router_without_replica(config).await;
    let mut reads = router.replica_service();
    let started = tokio::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(3), async {
        reads.ready().await?.call(get("k")).await
    })
    .await
    .expect("never hangs")
    .expect_err("no replica");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        matches!(err, Error::Roles(RoleError::NoReadablePod { .. })),
        "{err}"
    );
    // redis-1 is gone from the Service's DNS by now (a probe that cannot reach a pod asks
    // DNS again), so the error need not name it; it says why the one pod left is out.
    assert!(
        err.to_string().contains("redis-0 is leader"),
        "says why redis-0 cannot serve: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_service_talks_to_its_pod() {
    let s = setup(RedisSpec::new("redis").replicas(2)).await;
    let router = s.router(fast_config()).await;
    let replica = router.topology().pods[1].peer.clone();
    let mut pod = router.pod_service(&replica);
    // The Service contract broken (no `ready()` first): a typed error, not a panic.
    let early = pod
        .call(redis::cmd("ROLE"))
        .await
        .expect_err("not ready yet");
    assert!(matches!(early, Error::NotReady("PodService")), "{early}");
    let early = router
        .replica_service()
        .call(get("k"))
        .await
        .expect_err("not ready yet");
    assert!(
        matches!(early, Error::NotReady("ReplicaService")),
        "{early}"
    );

    let role = pod
        .ready()
        .await
        .expect("ready")
        .call(redis::cmd("ROLE"))
        .await
        .expect("ROLE");
    assert!(
        matches!(role, Value::Array(ref items) if items.first() == Some(&Value::BulkString(b"slave".to_vec()))),
        "{role:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_service_serves_overlapping_calls_and_reconnects_after_a_restart() {
    let s = setup(RedisSpec::new("redis").replicas(2)).await;
    let router = s.router(fast_config()).await;
    let mut writes = router.master().await.expect("master");
    let mut set = redis::cmd("SET");
    set.arg("k").arg("v");
    set.query_async::<()>(&mut writes).await.expect("write");
    s.redis.wait_for_replication().await.expect("replicated");

    let replica = router
        .topology()
        .by_ordinal(1)
        .map(|pod| pod.peer.clone())
        .expect("pod 1 discovered");
    let mut pod = router.pod_service(&replica);
    // Twenty calls in flight on one service at once, each weighing on its load until
    // answered.
    let idle = pod.load();
    let mut in_flight = Vec::new();
    for _ in 0..20 {
        in_flight.push(pod.ready().await.expect("ready").call(get("k")));
    }
    let busy = pod.load();
    assert!(busy > idle, "20 calls out: {busy:?} vs idle {idle:?}");
    for reply in futures::future::join_all(in_flight).await {
        assert_eq!(
            reply.expect("overlapping GET"),
            Value::BulkString(b"v".to_vec())
        );
    }
    assert!(pod.load() < busy, "answered calls no longer count");

    // The pod's server dies and comes back at the same address: the service's handle is
    // broken, and the service reconnects rather than failing for good.
    s.redis.kill(1).expect("kill");
    s.redis.restart(1).await.expect("restart");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = tokio::time::timeout_at(deadline, async {
            pod.ready().await.expect("ready").call(get("k")).await
        })
        .await
        .expect("the pod service answers again within 10 s");
        if reply.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
