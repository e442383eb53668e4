//! TLS to real redis-server pods: dialled by IP, verified against the pod's FQDN.

mod support;

use headless_discovery_redis::{Error, ReadPolicy, RoleError, Tls};
use headless_discovery_testkit::StatefulSetSpec;
use headless_discovery_testkit::redis::RedisSpec;
use redis::AsyncCommands;
use support::{fast_config, setup};

#[tokio::test(flavor = "multi_thread")]
async fn tls_by_ip_with_the_pod_fqdn_as_server_name() {
    let s = setup(RedisSpec::new("redis").tls(true)).await;
    let mut config = fast_config();
    config.tls = Some(Tls::with_ca_pem(s.redis.ca_pem().expect("a CA")));
    let router = s.router(config).await;
    assert!(
        router.topology().pods.iter().all(|p| p.is_up()),
        "{:?}",
        router.topology().pods
    );
    let mut master = router.master().await.expect("master over TLS");
    master.set::<_, _, ()>("k", "v").await.expect("write");
    s.redis
        .wait_for_replication()
        .await
        .expect("replicated over TLS");
    let mut replica = router
        .read(&ReadPolicy::Replica)
        .await
        .expect("replica over TLS");
    assert_eq!(
        replica
            .get::<_, Option<String>>("k")
            .await
            .expect("read")
            .as_deref(),
        Some("v")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_for_another_name_is_rejected() {
    let s = setup(RedisSpec::new("redis").replicas(1).tls(true)).await;
    // An impostor Service whose pod resolves to redis-0's address: its certificate names
    // redis-0.redis..., not impostor-0.impostor..., so the handshake must fail.
    let impostor = s
        .cluster
        .statefulset(StatefulSetSpec::new("impostor").port("redis", 6379))
        .expect("impostor");
    impostor
        .set_pod_ip(0, s.redis.addr(0).expect("addr").ip())
        .expect("same IP");
    let mut config = fast_config();
    config.tls = Some(Tls::with_ca_pem(s.redis.ca_pem().expect("a CA")));
    // A certificate for another name is no failover: fail at once, not after this.
    config.roles.failover_wait = std::time::Duration::from_secs(120);
    let router = headless_discovery_redis::RedisRouter::connect(
        &s.discovery,
        "_redis._tcp.impostor",
        config,
    )
    .await
    .expect("router");
    let pod = &router.topology().pods[0];
    let error = pod.error.clone().expect("the handshake failed");
    assert!(pod.report.is_none());
    assert!(error.contains("impostor-0"), "names the pod: {error}");
    assert!(
        error.to_lowercase().contains("certificate"),
        "says why: {error}"
    );
    assert!(pod.rejected, "{pod:?}");
    match router.master().await {
        Err(e @ Error::Roles(RoleError::Rejected { .. })) => {
            assert!(!e.is_transient(), "{e}");
            assert!(e.to_string().contains("TLS"), "says what to check: {e}");
        }
        other => panic!("expected every pod to reject the client, got {other:?}"),
    }
}
