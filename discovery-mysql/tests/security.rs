//! Credentials and TLS against real mariadbd pods.

mod support;

use headless_discovery_mysql::{Error, MySqlRouter, ReadPolicy, RoleError, Tls};
use headless_discovery_testkit::StatefulSetSpec;
use headless_discovery_testkit::mysql::MariaDbSpec;
use mysql_async::prelude::Queryable;
use support::setup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_names_the_pod_and_never_shows() {
    let s = setup(MariaDbSpec::new("mysql").replicas(1)).await;
    let mut config = s.config();
    config.password = Some(headless_discovery_mysql::Secret::new(
        "not-the-password-hunter2",
    ));
    // Refused credentials are no failover: the request must fail at once, not after this.
    config.roles.failover_wait = std::time::Duration::from_secs(120);
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let cluster = s.connect(config).await;
    let pod = &cluster.topology().pods[0];
    let probe_error = pod.error.clone().expect("the login failed");
    assert!(
        probe_error.contains("mysql-0"),
        "names the pod: {probe_error}"
    );
    assert!(
        probe_error.contains("Access denied"),
        "says why: {probe_error}"
    );
    assert!(!probe_error.contains("hunter2"));
    let error = cluster
        .primary()
        .await
        .expect_err("no primary without a login");
    assert_every_pod_rejects(&error, cluster.topology().pods.len());
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{cluster:?}"),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_by_ip_with_the_pod_fqdn_verified_and_another_name_rejected() {
    let s = setup(MariaDbSpec::new("mysql").replicas(2).tls(true)).await;
    let ca = s.mysql.ca_pem().expect("a CA").to_owned();
    let mut config = s.config();
    config.tls = Some(Tls::with_ca_pem(ca.clone()));
    let cluster = s.connect(config.clone()).await;
    assert!(
        cluster.topology().pods.iter().all(|p| p.is_up()),
        "{:?}",
        cluster.topology().pods
    );
    let mut primary = cluster.primary().await.expect("primary over TLS");
    let cipher: Option<(String, String)> = primary
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .expect("status");
    assert!(
        cipher.is_some_and(|(_, c)| !c.is_empty()),
        "the session is encrypted"
    );
    drop(primary);
    let mut replica = cluster
        .read(&ReadPolicy::Replica)
        .await
        .expect("replica over TLS");
    let _: Option<u32> = replica.query_first("SELECT 1").await.expect("read");

    // An impostor Service whose pod resolves to mysql-0's address: the certificate names
    // mysql-0.mysql..., not impostor-0.impostor..., so the handshake must fail.
    let impostor = s
        .cluster
        .statefulset(StatefulSetSpec::new("impostor").port("mysql", 3306))
        .expect("impostor");
    impostor
        .set_pod_ip(0, s.mysql.addr(0).expect("addr").ip())
        .expect("same IP");
    config.roles.failover_wait = std::time::Duration::from_secs(120);
    let fooled = MySqlRouter::connect(&s.discovery, "_mysql._tcp.impostor", config)
        .await
        .expect("handle");
    let pod = &fooled.topology().pods[0];
    let error = pod.error.clone().expect("the handshake failed");
    assert!(pod.report.is_none());
    assert!(error.contains("impostor-0"), "names the pod: {error}");
    assert!(
        error.to_lowercase().contains("certificate"),
        "says why: {error}"
    );
    assert!(pod.rejected, "{pod:?}");
    let error = fooled.primary().await.expect_err("no primary to trust");
    assert_every_pod_rejects(&error, fooled.topology().pods.len());
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
