//! The tower services of both adapters polled by hand, as a balancer or `Buffer` polls
//! them, with tokio's clock paused: what `poll_ready` answers at each instant, and how long
//! a call waits, without waiting in real time. Real redis-server and mariadbd pods; only
//! the clock is ours. (Here rather than in the adapters' own tests because pausing needs
//! tokio's `test-util`, which would also slow the adapters' benches.)

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use discovery_e2e::{discovery, eventually};
use headless_discovery::roles::LeaderChoice;
use headless_discovery_mysql::{MySqlConfig, MySqlRouter, Statement};
use headless_discovery_redis::{Error, RedisConfig, RedisRouter, RoleError};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
use tower::{Service, ServiceExt};

/// How long the Redis pod service waits before connecting again (its documented 250 ms).
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// A Redis set of a master and one replica, and a router over it probing every 200 ms.
struct Redis {
    _cluster: Cluster,
    set: RedisStatefulSet,
    router: RedisRouter,
}

impl Redis {
    async fn start(failover_wait: Duration) -> Self {
        headless_discovery_testkit::init_tracing();
        let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
        let set = RedisStatefulSet::start(&cluster, RedisSpec::new("redis").replicas(2))
            .await
            .expect("redis pods");
        let mut config = RedisConfig::new();
        config.roles.probe_interval = Duration::from_millis(200);
        config.roles.failover_wait = failover_wait;
        config.connect_timeout = Duration::from_millis(500);
        config.response_timeout = Duration::from_secs(1);
        let router =
            RedisRouter::connect(&discovery(&cluster), set.service_name().as_str(), config)
                .await
                .expect("router");
        Self {
            _cluster: cluster,
            set,
            router,
        }
    }

    /// Kills `ordinal` and waits until the router's topology satisfies `seen`.
    async fn kill(&self, ordinal: u32, what: &str, seen: impl Fn(&RedisRouter) -> bool) {
        self.set.kill(ordinal).expect("kill");
        self.router.refresh();
        eventually(what, Duration::from_secs(10), || async {
            seen(&self.router).then_some(())
        })
        .await;
    }
}

fn get(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key);
    cmd
}

/// `poll_ready`, again and again for up to `real` (wall-clock time) while it is
/// `Pending`, yielding in between so that sockets make progress. The paused clock never
/// moves meanwhile: a yielding task keeps the runtime from idling, and only an idle
/// runtime advances a paused clock.
async fn poll_ready<S: Service<redis::Cmd>>(
    service: &mut S,
    real: Duration,
) -> Poll<Result<(), S::Error>> {
    let deadline = std::time::Instant::now() + real;
    loop {
        let poll = poll_fn(|cx| Poll::Ready(service.poll_ready(cx))).await;
        if poll.is_ready() || std::time::Instant::now() >= deadline {
            return poll;
        }
        tokio::task::yield_now().await;
    }
}

/// Whether the service stays `Pending` while its sockets have 100 ms to make progress.
async fn stays_pending<S: Service<redis::Cmd>>(service: &mut S) -> bool {
    poll_ready(service, Duration::from_millis(100))
        .await
        .is_pending()
}

/// Whether the service becomes ready within 5 s of socket progress (a loaded CI machine).
async fn becomes_ready<S: Service<redis::Cmd>>(service: &mut S) -> bool {
    matches!(
        poll_ready(service, Duration::from_secs(5)).await,
        Poll::Ready(Ok(()))
    )
}

#[tokio::test]
async fn redis_replica_service_waits_exactly_its_bound_then_sheds_one_call_and_waits_afresh() {
    let s = Redis::start(Duration::from_secs(2)).await;
    s.kill(1, "no fit replica", |router| {
        router.topology().fit_replicas().is_empty()
    })
    .await;
    let router = &s.router;
    let mut reads = router.replica_service();

    tokio::time::pause();
    assert!(stays_pending(&mut reads).await);
    tokio::time::advance(Duration::from_millis(1999)).await;
    assert!(
        stays_pending(&mut reads).await,
        "a millisecond short of failover_wait it still waits"
    );
    // The timer's deadline rounds up to the next millisecond tick.
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(becomes_ready(&mut reads).await);
    let err = reads.call(get("k")).await.expect_err("shed");
    // Two seconds on, DNS has dropped the unready redis-1: the reasons name who is left.
    assert!(
        matches!(&err, Error::Roles(RoleError::NoReadablePod { reasons, .. }) if !reasons.is_empty()),
        "{err}"
    );
    assert!(
        err.to_string().contains("redis-0 is leader"),
        "says why: {err}"
    );

    // One call shed, the next one waits its own full bound.
    assert!(stays_pending(&mut reads).await);
    tokio::time::advance(Duration::from_millis(1999)).await;
    assert!(stays_pending(&mut reads).await);
    tokio::time::resume();

    // The replica back and fit, the service is ready with no call made meanwhile.
    s.set.restart(1).await.expect("restart");
    eventually("the replica fit again", Duration::from_secs(10), || async {
        (!router.topology().fit_replicas().is_empty()).then_some(())
    })
    .await;
    assert!(becomes_ready(&mut reads).await);
    reads.call(get("k")).await.expect("read from redis-1");
}

#[tokio::test]
async fn redis_pod_service_to_a_dead_pod_stays_pending_and_reconnects_on_its_own_timer() {
    let s = Redis::start(Duration::from_secs(5)).await;
    let router = &s.router;
    let replica = router
        .topology()
        .by_ordinal(1)
        .map(|pod| pod.peer.clone())
        .expect("pod 1 discovered");
    let mut pod = router.pod_service(&replica);
    assert!(becomes_ready(&mut pod).await);

    s.set.kill(1).expect("kill");
    let broken = pod.call(get("k")).await.expect_err("the server is gone");
    assert!(broken.is_transient(), "{broken}");

    tokio::time::pause();
    // Never an error (a balancer would drop the endpoint for good), only `Pending`,
    // through many reconnect periods.
    for period in 0..8 {
        let poll = poll_ready(&mut pod, Duration::from_millis(100)).await;
        assert!(poll.is_pending(), "period {period}: {poll:?}");
        tokio::time::advance(RECONNECT_DELAY).await;
    }
    tokio::time::resume();
    s.set.restart(1).await.expect("restart");

    tokio::time::pause();
    // At most one reconnect period later it is ready again, on its own.
    if stays_pending(&mut pod).await {
        tokio::time::advance(RECONNECT_DELAY + Duration::from_millis(1)).await;
    }
    assert!(becomes_ready(&mut pod).await);
    tokio::time::resume();
    pod.call(get("k"))
        .await
        .expect("answered by the restarted pod");
}

#[tokio::test]
async fn redis_with_no_master_a_write_waits_exactly_failover_wait_then_fails_no_leader() {
    let s = Redis::start(Duration::from_secs(4)).await;
    s.kill(0, "no master (none promoted)", |router| {
        router.topology().leader == LeaderChoice::None
    })
    .await;
    let router = &s.router;

    // Paused, the clock moves only when every task waits: it jumps from timer to timer,
    // and the wait is measured in the runtime's time, not the machine's.
    tokio::time::pause();
    let mut writes = router.master_service();
    let started = tokio::time::Instant::now();
    let mut set = redis::cmd("SET");
    set.arg("k").arg("v");
    let err = writes
        .ready()
        .await
        .expect("ready: the wait is in the call")
        .call(set)
        .await
        .expect_err("no master");
    let waited = started.elapsed();
    tokio::time::resume();
    assert!(
        matches!(err, Error::Roles(RoleError::NoLeader { .. })),
        "{err}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited <= Duration::from_millis(4002),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn mysql_with_no_primary_a_write_waits_exactly_failover_wait_then_fails_no_leader() {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql").replicas(2))
        .await
        .expect("mariadb pods");
    let mut config = MySqlConfig::new(set.user(), set.password()).database(set.database());
    config.roles.probe_interval = Duration::from_millis(200);
    config.roles.failover_wait = Duration::from_secs(4);
    let router = MySqlRouter::connect(&discovery(&cluster), set.service_name().as_str(), config)
        .await
        .expect("router");
    set.kill(0).expect("kill the primary, promote nobody");
    router.refresh();
    eventually("no primary", Duration::from_secs(10), || async {
        (router.topology().leader == LeaderChoice::None).then_some(())
    })
    .await;

    // Paused, the clock moves only when every task waits: it jumps from timer to timer,
    // and the wait is measured in the runtime's time, not the machine's.
    tokio::time::pause();
    let mut writes = router.primary_service();
    let started = tokio::time::Instant::now();
    let err = writes
        .ready()
        .await
        .expect("always ready: the wait is in the call")
        .call(Statement::new("INSERT INTO t (v) VALUES (1)"))
        .await
        .expect_err("no primary");
    let waited = started.elapsed();
    tokio::time::resume();
    assert!(
        matches!(
            err,
            headless_discovery_mysql::Error::Roles(RoleError::NoLeader { .. })
        ),
        "{err}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited <= Duration::from_millis(4002),
        "waited {waited:?}"
    );
}
