//! tower's p2c Balance over echo pods found by discovery.

use std::net::SocketAddr;
use std::time::Duration;

use discovery_e2e::echo::{EchoService, echo_client, serve_pods, spread};
use discovery_e2e::{discovery, eventually};
use headless_discovery::balance::{NoReadyPeers, PeerDiscover, WaitForPeers};
use headless_discovery::{Peer, Watch};
use headless_discovery_testkit::echo::EchoServer;
use headless_discovery_testkit::{Cluster, StatefulSet, StatefulSetSpec};
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover, PendingRequestsDiscover};
use tower::{BoxError, Service, ServiceExt, service_fn};

const PORT: u16 = 7070;
async fn setup(replicas: u32) -> (Cluster, StatefulSet, Watch) {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::builder().ttl(1).start().await.expect("cluster");
    let set = cluster
        .statefulset(
            StatefulSetSpec::new("echo")
                .port("echo", PORT)
                .replicas(replicas),
        )
        .expect("statefulset");
    let watch = discovery(&cluster)
        .watch("_echo._tcp.echo")
        .await
        .expect("watch");
    (cluster, set, watch)
}

#[tokio::test]
async fn requests_reach_every_pod_and_follow_scale_down_and_rollout() {
    let (_cluster, set, watch) = setup(3).await;
    let mut servers = serve_pods(&set, PORT).await;
    let discover = PeerDiscover::from_fn(&watch, echo_client);
    // Sequential requests leave every endpoint at 0 pending: p2c breaks the tie at random.
    let discover = PendingRequestsDiscover::new::<String>(discover, CompleteOnResponse::default());
    let mut balancer = WaitForPeers::new(
        Balance::new(Box::pin(discover)),
        watch.clone(),
        Duration::from_secs(2),
    );

    let served = spread(&mut balancer, 90).await;
    assert_eq!(served.len(), 3, "all three pods serve: {served:?}");

    set.scale(2).expect("scale down");
    eventually("the scale-down seen", Duration::from_secs(3), || async {
        (watch.peers().len() == 2).then_some(())
    })
    .await;
    servers.remove("echo-2");
    let served = spread(&mut balancer, 60).await;
    assert!(
        !served.contains_key("echo-2"),
        "the removed pod got requests: {served:?}"
    );
    assert_eq!(served.len(), 2, "{served:?}");

    // A rolling update moves echo-1 to a new IP; its old server goes away.
    let new_ip = set.replace_pod(1).expect("replace");
    servers.remove("echo-1");
    let moved = EchoServer::start(SocketAddr::new(new_ip, PORT), "echo-1-new")
        .await
        .expect("new echo-1");
    eventually("the new address seen", Duration::from_secs(3), || async {
        watch
            .peers()
            .by_ordinal(1)
            .is_some_and(|p| p.ip() == new_ip)
            .then_some(())
    })
    .await;
    let served = spread(&mut balancer, 60).await;
    assert!(
        served.contains_key("echo-1-new"),
        "the new address serves: {served:?}"
    );
    assert!(
        !served.contains_key("echo-1"),
        "nothing reaches the old address: {served:?}"
    );
    drop(moved);
}

#[tokio::test]
async fn with_zero_pods_a_request_fails_clearly_within_the_bound() {
    let (_cluster, set, watch) = setup(2).await;
    let _servers = serve_pods(&set, PORT).await;
    let discover = PendingRequestsDiscover::new::<String>(
        PeerDiscover::from_fn(&watch, echo_client),
        CompleteOnResponse::default(),
    );
    let bound = Duration::from_millis(500);
    let mut balancer = WaitForPeers::new(Balance::new(Box::pin(discover)), watch.clone(), bound);
    assert_eq!(spread(&mut balancer, 10).await.values().sum::<usize>(), 10);

    set.scale(0).expect("scale to zero");
    eventually(
        "the empty set after the grace",
        Duration::from_secs(5),
        || async { watch.peers().is_empty().then_some(()) },
    )
    .await;
    let started = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(bound * 4, async {
        balancer
            .ready()
            .await
            .expect("ready reports per request")
            .call("hello".into())
            .await
    })
    .await
    .expect("never waits forever");
    let error = outcome.expect_err("no pod to serve");
    let no_peers = error
        .downcast_ref::<NoReadyPeers>()
        .expect("a NoReadyPeers error");
    assert_eq!(no_peers.known_peers(), 0);
    assert!(
        error.to_string().contains("DNS lists no ready pod"),
        "{error}"
    );
    assert!(
        started.elapsed() >= bound,
        "failed before the bound: {:?}",
        started.elapsed()
    );

    // Pods come back: the same balancer serves again.
    set.scale(2).expect("scale up");
    let _servers = serve_pods(&set, PORT).await;
    eventually("pods back", Duration::from_secs(3), || async {
        (watch.peers().len() == 2).then_some(())
    })
    .await;
    assert_eq!(spread(&mut balancer, 10).await.values().sum::<usize>(), 10);
}

#[tokio::test]
async fn peak_ewma_balances_over_the_pods() {
    let (_cluster, set, watch) = setup(3).await;
    let _servers = serve_pods(&set, PORT).await;
    // A tiny default RTT makes unmeasured endpoints attractive, so each gets tried.
    let discover = PeakEwmaDiscover::new::<String>(
        PeerDiscover::from_fn(&watch, echo_client),
        Duration::from_micros(1),
        Duration::from_secs(1),
        CompleteOnResponse::default(),
    );
    let mut balancer = WaitForPeers::new(
        Balance::new(Box::pin(discover)),
        watch,
        Duration::from_secs(2),
    );
    let served = spread(&mut balancer, 30).await;
    assert_eq!(served.len(), 3, "{served:?}");
}

#[tokio::test]
async fn the_discover_stream_is_send_and_never_errs() {
    fn assert_send<T: Send>(_: &T) {}
    let (_cluster, _set, watch) = setup(1).await;
    let discover = PeerDiscover::from_fn(&watch, echo_client);
    assert_send(&discover);
    let _: &dyn futures::Stream<
        Item = Result<
            headless_discovery::Change<headless_discovery::PeerKey, EchoService>,
            std::convert::Infallible,
        >,
    > = &discover;
}

#[tokio::test]
async fn a_failing_make_service_is_retried_without_ending_the_stream() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use futures::StreamExt;
    use headless_discovery::Change;

    let (_cluster, _set, watch) = setup(2).await;
    let failed_once: Arc<Mutex<HashSet<String>>> = Arc::default();
    let make = service_fn({
        let failed_once = Arc::clone(&failed_once);
        move |peer: Peer| {
            let first = failed_once
                .lock()
                .expect("lock")
                .insert(peer.hostname().to_owned());
            async move {
                if first {
                    Err::<EchoService, BoxError>(
                        format!("connect to {} refused", peer.addr()).into(),
                    )
                } else {
                    Ok(echo_client(&peer))
                }
            }
        }
    });
    let mut discover = PeerDiscover::new(&watch, make);
    let mut inserted = HashSet::new();
    while inserted.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), discover.next()).await {
            Ok(Some(Ok(Change::Insert(key, _)))) => {
                inserted.insert(key.to_string());
            }
            other => panic!(
                "expected inserts after the retry, got {:?}",
                other.map(|o| o.map(|r| r.map(|_| ())))
            ),
        }
    }
    assert_eq!(
        failed_once.lock().expect("lock").len(),
        2,
        "each peer failed once first"
    );
}

/// A balancer polls discovery right before it picks an endpoint: a change the watch has
/// already published must show on that very poll, or a request goes to a pod that is
/// gone. A busy task may have spent tokio's cooperative budget by then, and an async
/// `watch::Receiver::changed()` answers `Pending` when it has, new value or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_change_is_seen_on_the_very_next_poll() {
    use futures::StreamExt;
    use headless_discovery::Change;

    let (_cluster, set, watch) = setup(3).await;
    let mut discover = PeerDiscover::from_fn(&watch, |peer: &Peer| peer.clone());
    for _ in 0..3 {
        assert!(matches!(
            discover.next().await,
            Some(Ok(Change::Insert(..)))
        ));
    }
    let mut witness = watch.subscribe();
    for round in 0..10u32 {
        let ordinal = round % 3;
        set.replace_pod(ordinal).expect("replace");
        watch.refresh_now();
        let seen = tokio::time::timeout(Duration::from_secs(3), witness.next()).await;
        assert!(
            matches!(
                seen,
                Ok(Some(headless_discovery::PeerEvent::Changed { .. }))
            ),
            "{seen:?}"
        );
        for _ in 0..256 {
            let _ = futures::poll!(std::pin::pin!(tokio::task::consume_budget()));
        }
        match futures::poll!(discover.next()) {
            std::task::Poll::Ready(Some(Ok(Change::Remove(key)))) => {
                assert!(
                    key.as_str().starts_with(&format!("echo-{ordinal}.")),
                    "round {round}: {key}"
                );
            }
            other => panic!(
                "round {round}: the removal was published but discovery polled {:?}",
                other.map(|o| o.is_some())
            ),
        }
        assert!(
            matches!(discover.next().await, Some(Ok(Change::Insert(..)))),
            "round {round}: the new address"
        );
    }
}
