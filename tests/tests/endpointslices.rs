//! The API source against the testkit's API server (HTTPS, and plain HTTP once; bearer
//! token; kube-rs's own client and watcher): the same pods as DNS, changes as single events, draining,
//! relists, outages and RBAC.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use discovery_e2e::api::ApiCluster;
use discovery_e2e::echo::{echo_client, serve_pods, spread};
use discovery_e2e::{discovery_with, eventually, test_config};
use futures::StreamExt;
use headless_discovery::balance::{PeerDiscover, WaitForPeers};
use headless_discovery::{Error, Peer, PeerEvent, PeerKey, RBAC_RULE, Source, Subscription, Watch};
use headless_discovery_testkit::echo;
use headless_discovery_testkit::{ApiFault, ApiServer, StatefulSetSpec};
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};

/// A watch event arrives in milliseconds; this only bounds a stuck test on a busy machine.
const SOON: Duration = Duration::from_secs(5);

async fn next(events: &mut Subscription) -> PeerEvent {
    tokio::time::timeout(SOON, events.next())
        .await
        .expect("an event in time")
        .expect("the subscription lives")
}

/// No event for a while (the API pushes at once, so quiet means none is coming).
async fn quiet(events: &mut Subscription) {
    if let Ok(event) = tokio::time::timeout(Duration::from_millis(500), events.next()).await {
        panic!("expected no event, got {event:?}");
    }
}

fn redis(replicas: u32) -> StatefulSetSpec {
    StatefulSetSpec::new("redis")
        .port("redis", 6379)
        .replicas(replicas)
}

async fn watch_both(fixture: &ApiCluster, name: &str) -> (Watch, Watch) {
    let api = discovery_with(fixture.config())
        .watch(name)
        .await
        .expect("API watch");
    let dns = discovery_with(test_config(&fixture.cluster))
        .watch(name)
        .await
        .expect("DNS watch");
    (api, dns)
}

fn keys(watch: &Watch) -> BTreeSet<(PeerKey, SocketAddr, Option<u32>)> {
    watch
        .peers()
        .iter()
        .map(|p| (p.key(), p.addr(), p.ordinal()))
        .collect()
}

#[tokio::test]
async fn scale_and_replace_arrive_as_single_events_with_the_same_keys_as_dns() {
    let fixture = ApiCluster::start().await;
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let (api, dns) = watch_both(&fixture, "_redis._tcp.redis").await;
    assert_eq!(api.peers().len(), 3);
    assert_eq!(keys(&api), keys(&dns), "one pod, one key, whichever source");
    assert!(api.health().is_healthy(), "{}", api.health());
    assert_eq!(api.health().source(), Some(Source::Kube));
    assert_eq!(dns.health().source(), Some(Source::Dns));
    let mut events = api.subscribe();

    set.scale(5).expect("scale up");
    let mut added = vec![next(&mut events).await, next(&mut events).await];
    added.sort_by_key(|e| e.peer().ordinal());
    assert!(
        matches!(&added[..], [PeerEvent::Added(a), PeerEvent::Added(b)] if a.ordinal() == Some(3) && b.ordinal() == Some(4)),
        "{added:?}"
    );

    set.scale(2).expect("scale down");
    let mut removed = BTreeSet::new();
    for _ in 0..3 {
        match next(&mut events).await {
            PeerEvent::Removed(p) => removed.extend(p.ordinal()),
            other => panic!("expected removals, got {other:?}"),
        }
    }
    assert_eq!(removed, BTreeSet::from([2, 3, 4]));

    let new_ip = set.replace_pod(1).expect("replace");
    match next(&mut events).await {
        PeerEvent::Changed { old, new } => {
            assert_eq!(new.key(), old.key());
            assert_eq!(new.ip(), new_ip);
            assert_eq!(new.ordinal(), Some(1));
        }
        other => panic!("expected the pod to move, got {other:?}"),
    }
    quiet(&mut events).await;
    eventually("DNS catches up", Duration::from_secs(5), || async {
        (keys(&api) == keys(&dns)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn over_plain_http_an_emptied_service_waits_out_the_grace_as_nxdomain_does() {
    let fixture = ApiCluster::start_with(ApiServer::builder()).await;
    assert!(
        fixture.api.url().starts_with("http://"),
        "{}",
        fixture.api.url()
    );
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let mut config = fixture.config();
    config.empty_grace = Duration::from_secs(3);
    let api = discovery_with(config)
        .watch("_redis._tcp.redis")
        .await
        .expect("API watch over HTTP");
    assert_eq!(api.peers().len(), 3);
    assert_eq!(
        api.health().source(),
        Some(Source::Kube),
        "{}",
        api.health()
    );
    let mut events = api.subscribe();

    // Every pod gone and back within the grace (a StatefulSet recreated, all pods
    // restarting): each pod moves to its new address, with no remove-all/add-all.
    set.scale(0).expect("scale to zero");
    quiet(&mut events).await;
    assert_eq!(api.peers().len(), 3, "held through the grace");
    set.scale(3).expect("back");
    let mut moved = BTreeSet::new();
    for _ in 0..3 {
        match next(&mut events).await {
            PeerEvent::Changed { old, new } if old.key() == new.key() => {
                moved.extend(new.ordinal());
            }
            other => panic!("expected each pod to move, got {other:?}"),
        }
    }
    assert_eq!(moved, BTreeSet::from([0, 1, 2]));
    quiet(&mut events).await;

    // Gone for longer than the grace: removed, each pod once.
    set.scale(0).expect("scale to zero");
    let mut removed = BTreeSet::new();
    for _ in 0..3 {
        match next(&mut events).await {
            PeerEvent::Removed(p) => removed.extend(p.ordinal()),
            other => panic!("expected removals, got {other:?}"),
        }
    }
    assert_eq!(removed, BTreeSet::from([0, 1, 2]));
    assert!(api.peers().is_empty());
    assert!(
        api.health().is_healthy(),
        "an empty list is an answer: {}",
        api.health()
    );
}

#[tokio::test]
async fn unready_goes_at_once_and_terminating_drains_then_goes() {
    let fixture = ApiCluster::start().await;
    fixture
        .cluster
        .set_drain_period(Duration::from_millis(1500));
    let set = fixture
        .cluster
        .statefulset(redis(3).zones(&["zone-a", "zone-b"]))
        .expect("set");
    let api = discovery_with(fixture.config())
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let zones: Vec<_> = api
        .peers()
        .iter()
        .map(|p| p.zone().map(str::to_owned))
        .collect();
    assert_eq!(
        zones,
        [
            Some("zone-a".into()),
            Some("zone-b".into()),
            Some("zone-a".into())
        ]
    );
    assert_eq!(
        api.peers().by_ordinal(1).and_then(Peer::node),
        Some("zone-b-node")
    );
    let mut events = api.subscribe();

    set.set_ready(0, false).expect("unready");
    assert!(
        matches!(next(&mut events).await, PeerEvent::Removed(p) if p.ordinal() == Some(0)),
        "not ready and not serving: gone"
    );

    set.terminate_pod(2).expect("terminate");
    match next(&mut events).await {
        PeerEvent::Changed { old, new } => {
            assert!(
                !old.is_draining() && new.is_draining(),
                "{old:?} -> {new:?}"
            );
            assert_eq!(old.addr(), new.addr());
        }
        other => panic!("expected pod 2 to start draining, got {other:?}"),
    }
    let draining = api.peers().by_ordinal(2).cloned().expect("still listed");
    assert!(draining.is_draining());
    assert!(
        matches!(next(&mut events).await, PeerEvent::Removed(p) if p.ordinal() == Some(2)),
        "gone after the drain period"
    );

    // A replaced pod: its old address drains beside the new one, and the new one is the peer.
    let new_ip = set.replace_pod(1).expect("replace");
    match next(&mut events).await {
        PeerEvent::Changed { new, .. } => {
            assert_eq!(new.ip(), new_ip);
            assert!(!new.is_draining());
        }
        other => panic!("expected pod 1 to move, got {other:?}"),
    }
    quiet(&mut events).await;
}

/// A balancer over the API source: once a pod's `terminating` event is out, no new
/// request goes to it, while it still serves.
#[tokio::test]
async fn a_balancer_sends_nothing_new_to_a_draining_pod() {
    const PORT: u16 = 7071;
    let fixture = ApiCluster::start().await;
    fixture.cluster.set_drain_period(Duration::from_secs(30));
    let set = fixture
        .cluster
        .statefulset(StatefulSetSpec::new("echo").port("echo", PORT).replicas(3))
        .expect("set");
    let _servers = serve_pods(&set, PORT).await;
    let watch = discovery_with(fixture.config())
        .watch("_echo._tcp.echo")
        .await
        .expect("watch");
    let discover = PeerDiscover::from_fn(&watch, echo_client);
    let discover = PendingRequestsDiscover::new::<String>(discover, CompleteOnResponse::default());
    let mut balancer = WaitForPeers::new(
        Balance::new(Box::pin(discover)),
        watch.clone(),
        Duration::from_secs(2),
    );
    let served = spread(&mut balancer, 60).await;
    assert_eq!(served.len(), 3, "{served:?}");

    let mut events = watch.subscribe();
    set.terminate_pod(1).expect("terminate");
    assert!(matches!(next(&mut events).await, PeerEvent::Changed { new, .. } if new.is_draining()));
    let served = spread(&mut balancer, 200).await;
    assert!(
        !served.contains_key("echo-1"),
        "a draining pod got new requests: {served:?}"
    );
    assert_eq!(served.len(), 2, "{served:?}");
    // It still serves (in-flight work could finish there).
    let addr = set_addr(&watch, 1);
    assert!(
        echo::request(addr, "still there?", Duration::from_secs(2))
            .await
            .is_ok()
    );
}

fn set_addr(watch: &Watch, ordinal: u32) -> SocketAddr {
    watch
        .peers()
        .by_ordinal(ordinal)
        .map(Peer::addr)
        .expect("listed while draining")
}

#[tokio::test]
async fn slices_split_in_three_with_an_overlap_list_each_pod_once() {
    let fixture =
        ApiCluster::start_with(ApiServer::builder().https(true).max_endpoints_per_slice(2)).await;
    let set = fixture.cluster.statefulset(redis(5)).expect("set");
    fixture.api.mirror(&set, "redis-moving", &[1, 2]);
    let (api, dns) = watch_both(&fixture, "_redis._tcp.redis").await;
    assert_eq!(
        api.peers()
            .iter()
            .filter_map(Peer::ordinal)
            .collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(keys(&api), keys(&dns));
    let mut events = api.subscribe();
    // The overlap ends: nothing changes for the subscriber.
    fixture.api.unmirror();
    quiet(&mut events).await;
    // A pod in the last slice goes; one event.
    set.scale(4).expect("scale down");
    assert!(matches!(next(&mut events).await, PeerEvent::Removed(p) if p.ordinal() == Some(4)));
    quiet(&mut events).await;
}

#[tokio::test]
async fn after_410_gone_the_relist_publishes_only_the_differences() {
    let fixture = ApiCluster::start().await;
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let api = discovery_with(fixture.config())
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let mut events = api.subscribe();
    let requests = fixture.api.requests();
    // History gone and watches ended, then a change: the watcher's resume from its old
    // version gets 410 and it lists again.
    fixture.api.expire_history();
    set.scale(4).expect("scale up");
    assert!(matches!(next(&mut events).await, PeerEvent::Added(p) if p.ordinal() == Some(3)));
    quiet(&mut events).await;
    assert!(
        fixture.api.requests() >= requests + 3,
        "a watch that got 410, a list, a new watch"
    );
    assert!(
        api.health().is_healthy(),
        "a relist is routine: {}",
        api.health()
    );
}

#[tokio::test]
async fn an_api_outage_keeps_the_peers_degraded_then_recovers() {
    let fixture = ApiCluster::start().await;
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let api = discovery_with(fixture.config())
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let before = api.peers();
    fixture.api.set_fault(ApiFault::Unavailable);
    set.scale(4).expect("scale during the outage");
    let mut health = api.health_changes();
    tokio::time::timeout(SOON, health.wait_for(|h| h.is_degraded()))
        .await
        .expect("degraded in time")
        .expect("health");
    assert_eq!(
        api.peers(),
        before,
        "an outage never empties or changes the set"
    );
    let error = api
        .health()
        .error()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("503"), "{error}");

    fixture.api.set_fault(ApiFault::None);
    eventually("recovered with the change made meanwhile", SOON, || async {
        (api.health().is_healthy() && api.peers().len() == 4).then_some(())
    })
    .await;

    // An outage with no change in it: healthy again once the API answers, though no
    // event follows.
    fixture.api.set_fault(ApiFault::Unavailable);
    tokio::time::timeout(SOON, health.wait_for(|h| h.is_degraded()))
        .await
        .expect("degraded again")
        .expect("health");
    fixture.api.set_fault(ApiFault::None);
    tokio::time::timeout(SOON, health.wait_for(|h| h.is_healthy()))
        .await
        .expect("healthy without a change to bring an event")
        .expect("health");
    assert_eq!(api.peers().len(), 4);
}

#[tokio::test]
async fn a_watch_gone_silent_is_dropped_and_the_peers_kept_until_it_answers_again() {
    let fixture = ApiCluster::start().await;
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let mut config = fixture.config();
    // The testkit sends a bookmark every second; two seconds of silence is a stall.
    config.api_silence_timeout = Duration::from_secs(2);
    let api = discovery_with(config)
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let before = api.peers();
    fixture.api.set_fault(ApiFault::Stall);
    set.scale(4).expect("scale while the API is silent");
    let mut health = api.health_changes();
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.is_degraded()),
    )
    .await
    .expect("the stall is seen")
    .expect("health");
    assert_eq!(
        api.peers(),
        before,
        "a stalled watch keeps the last good set"
    );

    fixture.api.set_fault(ApiFault::None);
    eventually(
        "relisted with the change",
        Duration::from_secs(10),
        || async { (api.health().is_healthy() && api.peers().len() == 4).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn missing_rbac_fails_with_the_rule_to_add_and_a_bad_token_with_401() {
    let fixture = ApiCluster::start().await;
    fixture.cluster.statefulset(redis(1)).expect("set");
    fixture.api.set_fault(ApiFault::Forbidden);
    let error = discovery_with(fixture.config())
        .watch("_redis._tcp.redis")
        .await
        .expect_err("403");
    match &error {
        Error::Api { failure, .. } => {
            assert_eq!(failure.status(), Some(403));
            assert!(!failure.is_transient());
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(error.to_string().contains(RBAC_RULE), "{error}");
    fixture.api.set_fault(ApiFault::None);

    let wrong = fixture.kubeconfig().with_extension("wrong");
    let text = std::fs::read_to_string(fixture.kubeconfig()).expect("kubeconfig");
    std::fs::write(&wrong, text.replace("testkit-token", "not-the-token")).expect("write");
    let error = discovery_with(fixture.config().kubeconfig(&wrong))
        .resolve("_redis._tcp.redis")
        .await
        .expect_err("401");
    let _ = std::fs::remove_file(&wrong);
    assert!(
        matches!(&error, Error::Api { failure, .. } if failure.status() == Some(401)),
        "{error:?}"
    );
}

#[tokio::test]
async fn ports_are_taken_by_name_as_the_srv_path_does() {
    let fixture = ApiCluster::start().await;
    fixture
        .cluster
        .statefulset(
            StatefulSetSpec::new("web")
                .port("http", 8080)
                .port("metrics", 9090)
                .replicas(2),
        )
        .expect("set");
    let discovery = discovery_with(fixture.config());
    let metrics = discovery
        .resolve("_metrics._tcp.web")
        .await
        .expect("named port");
    assert!(metrics.iter().all(|p| p.port() == 9090), "{metrics:?}");
    let numbered = discovery.resolve("web:7000").await.expect("a port number");
    assert!(numbered.iter().all(|p| p.port() == 7000));
    let missing = discovery
        .resolve("_admin._tcp.web")
        .await
        .expect_err("no such port");
    assert!(
        matches!(&missing, Error::PortNotFound { port, .. } if port == "admin"),
        "{missing:?}"
    );
    let ambiguous = discovery.resolve("web").await.expect_err("two ports");
    assert!(
        matches!(&ambiguous, Error::AmbiguousPort { ports, .. } if *ports == [8080, 9090]),
        "{ambiguous:?}"
    );
    // The DNS path says the same.
    let dns = discovery_with(test_config(&fixture.cluster));
    assert!(matches!(
        dns.resolve("web").await,
        Err(Error::AmbiguousPort { .. })
    ));
    assert!(matches!(
        dns.resolve("_admin._tcp.web").await,
        Err(Error::PortNotFound { .. })
    ));
}
