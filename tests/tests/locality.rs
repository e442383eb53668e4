//! Zone-local reads: real redis-server and mariadbd pods spread over zones, found through
//! the testkit's API server, read with `SameZone`.

use std::collections::BTreeSet;
use std::time::Duration;

use discovery_e2e::api::ApiCluster;
use discovery_e2e::{discovery_with, eventually};
use headless_discovery::roles::ReadPolicy;
use headless_discovery_mysql::{MySqlConfig, MySqlRouter, Statement};
use headless_discovery_redis::service::ReplicaService;
use headless_discovery_redis::{RedisConfig, RedisRouter};
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
use tower::{Service, ServiceExt};

/// Which pods `n` reads land on, and whether any said it was a fallback.
async fn redis_reads(router: &RedisRouter, policy: &ReadPolicy, n: usize) -> (BTreeSet<u32>, bool) {
    let mut pods = BTreeSet::new();
    let mut fallback = false;
    for _ in 0..n {
        let pod = router.read(policy).await.expect("a readable pod");
        pods.extend(pod.pod().ordinal());
        fallback |= pod.is_fallback();
    }
    (pods, fallback)
}

/// Which pod addresses `n` reads through the balanced service land on.
async fn redis_balanced_reads(service: &mut ReplicaService, n: usize) -> BTreeSet<String> {
    let mut addrs = BTreeSet::new();
    for _ in 0..n {
        let info = service
            .ready()
            .await
            .expect("ready")
            .call(redis::cmd("CLIENT").arg("INFO").clone())
            .await
            .expect("CLIENT INFO");
        let info: String = redis::from_redis_value(info).expect("a text reply");
        let laddr = info
            .split_whitespace()
            .find_map(|field| field.strip_prefix("laddr="))
            .expect("CLIENT INFO names the server's address");
        addrs.insert(laddr.to_owned());
    }
    addrs
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_reads_stay_in_the_zone_when_a_fit_replica_is_there() {
    let fixture = ApiCluster::start().await;
    // redis-0 (the master) and redis-2 in zone a, redis-1 in zone b.
    let redis = RedisStatefulSet::start(
        &fixture.cluster,
        RedisSpec::new("redis").replicas(3).zones(&["a", "b"]),
    )
    .await
    .expect("redis pods");
    let mut config = RedisConfig::new();
    config.roles.probe_interval = Duration::from_millis(200);
    // The balanced service follows the configured policy; `read` takes its own.
    config.roles.read_policy = ReadPolicy::same_zone("b");
    let router = RedisRouter::connect(
        &discovery_with(fixture.config()),
        redis.service_name().as_str(),
        config,
    )
    .await
    .expect("router");
    eventually("both replicas fit", Duration::from_secs(10), || async {
        (router.topology().fit_replicas().len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        redis_reads(&router, &ReadPolicy::same_zone("b"), 20).await,
        (BTreeSet::from([1]), false)
    );
    assert_eq!(
        redis_reads(&router, &ReadPolicy::same_zone("a"), 20).await,
        (BTreeSet::from([2]), false)
    );
    assert_eq!(
        redis_reads(&router, &ReadPolicy::same_node("b-node"), 20).await,
        (BTreeSet::from([1]), false)
    );
    let addr = |n| redis.addr(n).expect("pod address").to_string();
    let mut balanced = router.replica_service();
    assert_eq!(
        redis_balanced_reads(&mut balanced, 20).await,
        BTreeSet::from([addr(1)]),
        "the balanced service keeps to zone b's replica"
    );

    // Zone b loses its replica: reads leave the zone, and say so.
    redis.kill(1).expect("kill redis-1");
    router.refresh();
    eventually("redis-1 unfit", Duration::from_secs(10), || async {
        (router.topology().fit_replicas().len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        redis_reads(&router, &ReadPolicy::same_zone("b"), 10).await,
        (BTreeSet::from([2]), true)
    );
    assert_eq!(
        redis_balanced_reads(&mut balanced, 10).await,
        BTreeSet::from([addr(2)]),
        "the balanced service falls back to the replica left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_reads_stay_in_the_zone_and_fall_back_visibly() {
    let fixture = ApiCluster::start().await;
    let mysql = MariaDbStatefulSet::start(
        &fixture.cluster,
        MariaDbSpec::new("mysql").replicas(3).zones(&["a", "b"]),
    )
    .await
    .expect("mariadb pods");
    let mut config = MySqlConfig::new(mysql.user(), mysql.password()).database(mysql.database());
    config.roles.probe_interval = Duration::from_millis(200);
    config.roles.read_policy = ReadPolicy::same_zone("b");
    let router = MySqlRouter::connect(
        &discovery_with(fixture.config()),
        mysql.service_name().as_str(),
        config,
    )
    .await
    .expect("router");
    eventually("both replicas fit", Duration::from_secs(15), || async {
        (router.topology().fit_replicas().len() == 2).then_some(())
    })
    .await;
    for _ in 0..10 {
        let pod = router
            .read(&ReadPolicy::same_zone("b"))
            .await
            .expect("read");
        assert_eq!((pod.pod().ordinal(), pod.is_fallback()), (Some(1), false));
    }
    for _ in 0..10 {
        let pod = router
            .read(&ReadPolicy::same_zone("c"))
            .await
            .expect("read");
        assert!(
            pod.is_fallback(),
            "no replica in zone c: a visible fallback"
        );
        assert_ne!(pod.pod().ordinal(), Some(0), "a replica, not the primary");
    }

    // The configured policy's reads, balanced or not, keep to zone b; then, with its
    // replica gone, go to the one left and say so.
    let mut balanced = router.replica_service();
    for _ in 0..10 {
        assert_eq!(mysql_balanced_read(&mut balanced).await, Some(1));
        let pod = router.replica().await.expect("read");
        assert_eq!((pod.pod().ordinal(), pod.is_fallback()), (Some(1), false));
    }
    mysql.kill(1).expect("kill mysql-1");
    router.refresh();
    eventually("mysql-1 unfit", Duration::from_secs(10), || async {
        (router.topology().fit_replicas().len() == 1).then_some(())
    })
    .await;
    for _ in 0..10 {
        assert_eq!(mysql_balanced_read(&mut balanced).await, Some(2));
        let pod = router.replica().await.expect("read");
        assert_eq!((pod.pod().ordinal(), pod.is_fallback()), (Some(2), true));
    }
}

/// The ordinal of the pod that served one read through the balanced service.
async fn mysql_balanced_read(
    service: &mut headless_discovery_mysql::service::ReplicaService,
) -> Option<u32> {
    let reply = service
        .ready()
        .await
        .expect("ready")
        .call(Statement::new("SELECT 1"))
        .await
        .expect("a balanced read");
    reply.pod.ordinal()
}
