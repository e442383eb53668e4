//! Watching a Service while the testkit cluster scales, rolls, turns unready and loses DNS.

use std::time::Duration;

use discovery_e2e::{discovery, discovery_with, eventually, test_config, wait_for_queries};
use futures::StreamExt;
use headless_discovery::{Health, PeerEvent};
use headless_discovery_testkit::{Cluster, Fault, RecordType, StatefulSetSpec};

/// With TTL 1 s a refresh happens every 0.85–1.15 s; a change must show within one
/// refresh, plus scheduling slack on a busy CI machine.
const ONE_REFRESH: Duration = Duration::from_millis(2500);

async fn cluster_with_redis(replicas: u32) -> (Cluster, headless_discovery_testkit::StatefulSet) {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(replicas),
        )
        .expect("statefulset");
    (cluster, set)
}

fn ordinals(peers: &headless_discovery::PeerSet) -> Vec<u32> {
    peers.iter().filter_map(|p| p.ordinal()).collect()
}

#[tokio::test]
async fn scaling_3_to_5_to_2_is_seen_within_one_refresh() {
    let (cluster, set) = cluster_with_redis(3).await;
    let watch = discovery(&cluster)
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let mut events = watch.subscribe();
    assert_eq!(ordinals(events.snapshot()), [0, 1, 2]);

    set.scale(5).expect("scale up");
    let mut added = Vec::new();
    while added.len() < 2 {
        match tokio::time::timeout(ONE_REFRESH, events.next()).await {
            Ok(Some(PeerEvent::Added(p))) => added.extend(p.ordinal()),
            other => panic!("expected two additions, got {other:?}"),
        }
    }
    added.sort_unstable();
    assert_eq!(added, [3, 4]);
    assert_eq!(ordinals(&watch.peers()), [0, 1, 2, 3, 4]);

    set.scale(2).expect("scale down");
    let mut removed = Vec::new();
    while removed.len() < 3 {
        match tokio::time::timeout(ONE_REFRESH, events.next()).await {
            Ok(Some(PeerEvent::Removed(p))) => removed.extend(p.ordinal()),
            other => panic!("expected three removals, got {other:?}"),
        }
    }
    removed.sort_unstable();
    assert_eq!(removed, [2, 3, 4]);
    assert_eq!(ordinals(events.snapshot()), [0, 1]);
}

#[tokio::test]
async fn a_rolling_update_is_a_change_of_address() {
    let (cluster, set) = cluster_with_redis(3).await;
    let watch = discovery(&cluster)
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let mut events = watch.subscribe();
    let old_ip = set.pod(2).expect("pod 2").ip;
    let new_ip = set.replace_pod(2).expect("replace");

    match tokio::time::timeout(ONE_REFRESH, events.next()).await {
        Ok(Some(PeerEvent::Changed { old, new })) => {
            assert_eq!(new.ordinal(), Some(2));
            assert_eq!(new.key(), old.key(), "same pod, same key");
            assert_eq!((old.ip(), new.ip()), (old_ip, new_ip));
        }
        other => panic!("expected a change of pod 2, got {other:?}"),
    }
}

#[tokio::test]
async fn all_pods_unready_empties_the_set_only_after_the_grace() {
    let (cluster, set) = cluster_with_redis(2).await;
    let d = discovery(&cluster);
    let grace = d.config().empty_grace;
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    let srv = "_redis._tcp.redis.default.svc.cluster.local";

    set.set_all_ready(false).expect("unready");
    let changed_at = tokio::time::Instant::now();
    // Once the watch has had an NXDOMAIN answer, it still holds the peers...
    let seen = cluster.queries_for(srv, RecordType::SRV);
    wait_for_queries(&cluster, srv, RecordType::SRV, seen + 1, ONE_REFRESH).await;
    if changed_at.elapsed() < grace {
        assert_eq!(
            watch.peers().len(),
            2,
            "peers are kept during the grace period"
        );
    }
    assert!(
        watch.health().is_healthy(),
        "NXDOMAIN is an answer, not a failure"
    );

    // ...and lets them go once the grace has passed.
    eventually("an empty set", grace + ONE_REFRESH, || async {
        watch.peers().is_empty().then_some(())
    })
    .await;
    assert!(
        changed_at.elapsed() >= grace,
        "emptied after {:?}, before the grace of {grace:?}",
        changed_at.elapsed()
    );

    set.set_all_ready(true).expect("ready again");
    eventually("peers back", ONE_REFRESH, || async {
        (watch.peers().len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_pod_back_within_the_grace_never_empties_the_set() {
    let (cluster, set) = cluster_with_redis(1).await;
    let mut config = test_config(&cluster);
    config.empty_grace = Duration::from_secs(30);
    let watch = discovery_with(config)
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let mut events = watch.subscribe();

    set.set_all_ready(false).expect("old pod terminating");
    let srv = "_redis._tcp.redis.default.svc.cluster.local";
    let seen = cluster.queries_for(srv, RecordType::SRV);
    // Two refreshes answered NXDOMAIN.
    wait_for_queries(&cluster, srv, RecordType::SRV, seen + 2, ONE_REFRESH * 2).await;
    let new_ip = set.replace_pod(0).expect("new pod ready");
    match tokio::time::timeout(ONE_REFRESH, events.next()).await {
        Ok(Some(PeerEvent::Changed { new, .. })) => assert_eq!(new.ip(), new_ip),
        other => panic!("the one-replica rollout must be a single change, got {other:?}"),
    }
}

async fn degraded_then_recovered(fault: Fault) {
    let (cluster, set) = cluster_with_redis(3).await;
    let watch = discovery(&cluster)
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let before = watch.peers();
    let mut health = watch.health_changes();

    cluster.set_fault(fault);
    set.scale(1).expect("a change DNS cannot tell anyone about");
    let srv = "_redis._tcp.redis.default.svc.cluster.local";
    let start = cluster.queries_for(srv, RecordType::SRV);
    let outage = tokio::time::Instant::now();
    // Three refresh periods (TTL 1 s) of failure, with retries in between.
    wait_for_queries(&cluster, srv, RecordType::SRV, start + 3, ONE_REFRESH * 4).await;
    tokio::time::sleep_until(outage + Duration::from_secs(3)).await;
    let state = health
        .wait_for(Health::is_degraded)
        .await
        .expect("health channel")
        .clone();
    assert!(state.error().is_some_and(|e| e.is_transient()), "{state}");
    assert_eq!(watch.peers(), before, "the last known good set is kept");

    cluster.set_fault(Fault::None);
    tokio::time::timeout(ONE_REFRESH * 2, health.wait_for(Health::is_healthy))
        .await
        .expect("recovers once DNS answers")
        .expect("health channel");
    eventually(
        "the scale-down seen after recovery",
        ONE_REFRESH,
        || async { (watch.peers().len() == 1).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn servfail_keeps_peers_and_degrades_then_recovers() {
    degraded_then_recovered(Fault::ServFail).await;
}

#[tokio::test]
async fn silence_keeps_peers_and_degrades_then_recovers() {
    degraded_then_recovered(Fault::NoAnswer).await;
}

#[tokio::test]
async fn fifty_subscribers_share_one_query_stream() {
    let (cluster, set) = cluster_with_redis(3).await;
    let d = discovery(&cluster);
    let mut watches = Vec::new();
    let mut subscriptions = Vec::new();
    for _ in 0..50 {
        let watch = d.watch("_redis._tcp.redis").await.expect("watch");
        subscriptions.push(watch.subscribe());
        watches.push(watch);
    }
    assert_eq!(d.watched(), 1);

    let srv = "_redis._tcp.redis.default.svc.cluster.local";
    let start = cluster.queries_for(srv, RecordType::SRV);
    let window = tokio::time::Instant::now();
    set.scale(4).expect("scale");
    for sub in &mut subscriptions {
        match tokio::time::timeout(ONE_REFRESH * 2, sub.next()).await {
            Ok(Some(PeerEvent::Added(p))) => assert_eq!(p.ordinal(), Some(3)),
            other => panic!("every subscriber sees the addition, got {other:?}"),
        }
    }
    tokio::time::sleep_until(window + Duration::from_secs(3)).await;
    let queries = cluster.queries_for(srv, RecordType::SRV) - start;
    // TTL 1 s with -15 % jitter: at most 4 refreshes in 3 s; 50 streams would make 150+.
    assert!(
        (1..=4).contains(&queries),
        "{queries} SRV queries in 3 s for 50 subscribers"
    );
}

#[tokio::test]
async fn the_task_ends_when_the_last_handle_is_dropped() {
    let (cluster, _set) = cluster_with_redis(2).await;
    let d = discovery(&cluster);
    let watch = d.watch("_redis._tcp.redis").await.expect("watch");
    let subscription = watch.subscribe();
    let clone = watch.clone();
    let srv = "_redis._tcp.redis.default.svc.cluster.local";
    let start = cluster.queries_for(srv, RecordType::SRV);
    wait_for_queries(&cluster, srv, RecordType::SRV, start + 1, ONE_REFRESH).await;

    drop(watch);
    drop(clone);
    assert_eq!(d.watched(), 1, "a subscription keeps the watch alive");
    drop(subscription);
    assert_eq!(d.watched(), 0);
    // Let a resolution that was in flight land, then expect silence for 3 TTLs.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after_drop = cluster.queries_for(srv, RecordType::SRV);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.queries_for(srv, RecordType::SRV),
        after_drop,
        "no query after the last handle went"
    );
}

#[tokio::test]
async fn refresh_now_is_early_and_debounced() {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::builder().ttl(30).start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(2),
        )
        .expect("statefulset");
    let mut config = test_config(&cluster);
    config.max_refresh = Duration::from_secs(30);
    config.refresh_debounce = Duration::from_millis(300);
    let watch = discovery_with(config)
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let srv = "_redis._tcp.redis.default.svc.cluster.local";
    let start = cluster.queries_for(srv, RecordType::SRV);

    set.scale(3).expect("scale");
    for _ in 0..20 {
        watch.refresh_now();
    }
    eventually("the early refresh", Duration::from_secs(2), || async {
        (watch.peers().len() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let queries = cluster.queries_for(srv, RecordType::SRV) - start;
    assert!(
        (1..=2).contains(&queries),
        "20 requests made {queries} queries"
    );
}

#[tokio::test]
async fn a_lazy_watch_becomes_ready() {
    let (cluster, _set) = cluster_with_redis(3).await;
    let d = discovery(&cluster);
    let watch = d.watch_lazy("_redis._tcp.redis").expect("valid name");
    let peers = tokio::time::timeout(ONE_REFRESH, watch.ready())
        .await
        .expect("first resolution in time")
        .expect("resolves");
    assert_eq!(ordinals(&peers), [0, 1, 2]);
    assert!(watch.health().is_healthy());
}

#[tokio::test]
async fn an_eager_watch_reports_a_bad_port_at_once() {
    let (cluster, _set) = cluster_with_redis(1).await;
    let err = discovery(&cluster)
        .watch("_nope._tcp.redis")
        .await
        .expect_err("no such port");
    assert!(!err.is_transient(), "{err}");
}
