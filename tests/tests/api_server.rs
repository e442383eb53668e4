//! The testkit's API server as kube-rs's own client sees it: the list, watch and error
//! semantics of a real API server that the API source relies on.

use std::time::{Duration, Instant};

use discovery_e2e::api::ApiCluster;
use futures::{StreamExt, TryStreamExt};
use headless_discovery_testkit::{ApiServer, StatefulSetSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, Client, ResourceExt};

async fn client(fixture: &ApiCluster) -> Client {
    let text = std::fs::read_to_string(fixture.kubeconfig()).expect("kubeconfig");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).expect("parses");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    Client::try_from(config).expect("client")
}

#[tokio::test]
async fn lists_page_with_limit_and_continue_and_select_by_label() {
    let fixture =
        ApiCluster::start_with(ApiServer::builder().https(true).max_endpoints_per_slice(2)).await;
    let cluster = &fixture.cluster;
    cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(9),
        )
        .expect("redis");
    cluster
        .statefulset(StatefulSetSpec::new("other").port("p", 1).replicas(1))
        .expect("other");
    let api: Api<EndpointSlice> = Api::namespaced(client(&fixture).await, "default");
    let selector = ListParams::default().labels("kubernetes.io/service-name=redis");
    let mut names = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let mut params = selector.clone().limit(2);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = api.list(&params).await.expect("page");
        pages += 1;
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().map(ResourceExt::name_any));
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => break,
        }
    }
    // 9 endpoints at 2 per slice: 5 slices, 3 pages of at most 2.
    assert_eq!((names.len(), pages), (5, 3), "{names:?}");
    let all = api.list(&ListParams::default()).await.expect("all");
    assert_eq!(all.items.len(), 6, "the other Service's slice too");
    let endpoints: usize = api
        .list(&selector)
        .await
        .expect("list")
        .items
        .iter()
        .map(|s| s.endpoints.len())
        .sum();
    assert_eq!(endpoints, 9);
}

#[tokio::test]
async fn watches_replay_from_a_version_send_bookmarks_end_on_timeout_and_expire_with_410() {
    let fixture = ApiCluster::start().await;
    let set = fixture
        .cluster
        .statefulset(
            StatefulSetSpec::new("redis")
                .port("redis", 6379)
                .replicas(2),
        )
        .expect("redis");
    let api: Api<EndpointSlice> = Api::namespaced(client(&fixture).await, "default");
    let listed = api.list(&ListParams::default()).await.expect("list");
    let version = listed.metadata.resource_version.clone().expect("a version");
    set.scale(3).expect("scale");

    // From the list's version: the change made since, then bookmarks, then the end at
    // the timeout the client asked for.
    let started = Instant::now();
    let mut events = api
        .watch(&WatchParams::default().timeout(2), &version)
        .await
        .expect("watch")
        .boxed();
    let mut modified = 0;
    let mut bookmarks = 0;
    while let Some(event) = events.try_next().await.expect("event") {
        match event {
            WatchEvent::Modified(slice) => {
                modified += 1;
                assert_eq!(slice.endpoints.len(), 3);
            }
            WatchEvent::Bookmark(_) => bookmarks += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(modified, 1);
    assert!(bookmarks >= 1, "bookmarks asked for, one a second");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "ended by timeoutSeconds"
    );

    fixture.api.expire_history();
    let mut stale = api
        .watch(&WatchParams::default().timeout(5), &version)
        .await
        .expect("the watch starts")
        .boxed();
    match stale.next().await {
        Some(Ok(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}
