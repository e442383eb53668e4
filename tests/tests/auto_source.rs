//! `Source::Auto`: the API when it answers, DNS when it does not, and no flapping.

use std::time::Duration;

use discovery_e2e::api::ApiCluster;
use discovery_e2e::{discovery_with, eventually};
use futures::StreamExt;
use headless_discovery::{PeerEvent, RBAC_RULE, Source, SourceReason, Watch};
use headless_discovery_testkit::{ApiFault, StatefulSetSpec};

fn redis(replicas: u32) -> StatefulSetSpec {
    StatefulSetSpec::new("redis")
        .port("redis", 6379)
        .replicas(replicas)
}

fn auto(fixture: &ApiCluster) -> headless_discovery::Config {
    let mut config = fixture.config().source(Source::Auto);
    config.api_fallback_after = Duration::from_secs(1);
    config.source_dwell = Duration::from_secs(3);
    config
}

async fn on(watch: &Watch, source: Source, within: Duration) {
    let mut changes = watch.source_changes();
    tokio::time::timeout(within, changes.wait_for(|s| s.source == source))
        .await
        .unwrap_or_else(|_| panic!("not on {source} within {within:?}: {}", watch.source()))
        .expect("the watch lives");
}

#[tokio::test]
async fn auto_follows_the_api_when_it_answers() {
    let fixture = ApiCluster::start().await;
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let watch = discovery_with(auto(&fixture))
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let source = watch.source();
    assert_eq!(source.source, Source::Kube, "{source}");
    assert!(
        matches!(source.reason, SourceReason::ApiAnswers),
        "{source}"
    );
    assert_eq!(watch.peers().len(), 3);
    let mut events = watch.subscribe();
    set.scale(4).expect("scale");
    let event = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
    assert!(matches!(event, Ok(Some(PeerEvent::Added(p))) if p.ordinal() == Some(3)));
    assert_eq!(watch.source().source, Source::Kube);
}

#[tokio::test]
async fn auto_uses_dns_when_rbac_is_missing_and_says_which_rule() {
    let fixture = ApiCluster::start().await;
    fixture.cluster.statefulset(redis(2)).expect("set");
    fixture.api.set_fault(ApiFault::Forbidden);
    let watch = discovery_with(auto(&fixture))
        .watch("_redis._tcp.redis")
        .await
        .expect("DNS serves");
    let source = watch.source();
    assert_eq!(source.source, Source::Dns, "{source}");
    match &source.reason {
        SourceReason::ApiFailing(error) => {
            assert!(error.to_string().contains(RBAC_RULE), "{error}");
        }
        other => panic!("expected the API's failure as the reason, got {other:?}"),
    }
    assert!(source.to_string().contains("403"), "{source}");
    assert_eq!(watch.peers().len(), 2);
    assert!(
        watch.health().is_healthy(),
        "DNS is fine: {}",
        watch.health()
    );

    // RBAC fixed: back on the API once the dwell time has passed.
    fixture.api.set_fault(ApiFault::None);
    on(&watch, Source::Kube, Duration::from_secs(10)).await;
    assert!(watch.source().since.duration_since(source.since) >= Duration::from_secs(3));
}

#[tokio::test]
async fn auto_falls_back_after_an_outage_and_returns_after_the_dwell_without_flapping() {
    let fixture = ApiCluster::start().await;
    let set = fixture.cluster.statefulset(redis(3)).expect("set");
    let watch = discovery_with(auto(&fixture))
        .watch("_redis._tcp.redis")
        .await
        .expect("watch");
    let started = watch.source();
    assert_eq!(started.source, Source::Kube);
    let mut events = watch.subscribe();

    fixture.api.set_fault(ApiFault::Unavailable);
    on(&watch, Source::Dns, Duration::from_secs(10)).await;
    let fell_back = watch.source();
    assert!(
        matches!(fell_back.reason, SourceReason::ApiFailing(_)),
        "{fell_back}"
    );
    // Not before the dwell on the API, nor before the outage lasted the bound.
    assert!(fell_back.since.duration_since(started.since) >= Duration::from_secs(3));
    assert_eq!(watch.peers().len(), 3, "the switch kept every pod");

    // DNS serves changes meanwhile.
    set.scale(4).expect("scale during the outage");
    eventually("DNS sees the scale-up", Duration::from_secs(5), || async {
        (watch.peers().len() == 4).then_some(())
    })
    .await;

    // The API is back at once, but the watch stays on DNS for the dwell time.
    fixture.api.set_fault(ApiFault::None);
    on(&watch, Source::Kube, Duration::from_secs(10)).await;
    let back = watch.source();
    assert!(back.since.duration_since(fell_back.since) >= Duration::from_secs(3));
    assert_eq!(watch.peers().len(), 4);

    // Through both switches, the subscriber saw one event: the scale-up. No pod was
    // removed and added again.
    let mut seen = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(300), events.next()).await
    {
        seen.push(event);
    }
    assert!(
        matches!(&seen[..], [PeerEvent::Added(p)] if p.ordinal() == Some(3)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn auto_starts_on_dns_when_the_api_stalls_and_moves_to_it_once_it_lists() {
    let fixture = ApiCluster::start().await;
    fixture.cluster.statefulset(redis(2)).expect("set");
    fixture.api.set_fault(ApiFault::Stall);
    let mut config = auto(&fixture);
    // The stalled list is given up after this; the next one finds the API answering.
    config.api_silence_timeout = Duration::from_secs(2);
    let watch = tokio::time::timeout(
        Duration::from_secs(10),
        discovery_with(config).watch("_redis._tcp.redis"),
    )
    .await
    .expect("a stalled API holds the start for api_fallback_after, not api_silence_timeout")
    .expect("DNS serves");
    let source = watch.source();
    assert_eq!(source.source, Source::Dns, "{source}");
    match &source.reason {
        SourceReason::ApiFailing(error) => assert!(
            matches!(
                &**error,
                headless_discovery::Error::Api {
                    failure: headless_discovery::ApiFailure::Silent { after },
                    ..
                } if *after == Duration::from_secs(1)
            ),
            "{error}"
        ),
        other => panic!("expected the API's silence as the reason, got {other:?}"),
    }
    assert_eq!(watch.peers().len(), 2);

    fixture.api.set_fault(ApiFault::None);
    on(&watch, Source::Kube, Duration::from_secs(15)).await;
    assert!(matches!(watch.source().reason, SourceReason::ApiAnswers));
    assert_eq!(watch.peers().len(), 2);
}
