//! What was never sent waits for the new primary; what may have been applied fails as
//! "outcome unknown". Real mariadbd pods, killed for real.

mod support;

use std::time::Duration;

use headless_discovery_mysql::{Error, MySqlRouter, ResendPolicy, Resendable, Statement};
use headless_discovery_testkit::mysql::MariaDbSpec;
use mysql_async::prelude::Queryable;
use support::{eventually, setup};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A write loop's pause: an application writing every 20 ms, as the bar says.
const LOOP_PAUSE: Duration = Duration::from_millis(20);

fn insert(v: i64) -> Statement {
    Statement::new("INSERT INTO t (v, written_on) VALUES (?, @@server_id)").with_params((v,))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_statement_after_the_primary_is_killed_waits_and_lands_on_the_new_primary() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let router = s.connect(s.config()).await;
    // Pooled connections to mysql-0 that sit idle while it dies.
    router.execute(insert(1)).await.expect("first write");
    s.mysql.wait_for_replication().await.expect("replicated");

    s.mysql.kill(0).expect("kill the primary");
    tokio::time::sleep(LOOP_PAUSE).await;
    let promote = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.mysql.promote(1).await.expect("promote mysql-1");
        s
    });
    let reply = router
        .execute(insert(2))
        .await
        .expect("no error for a statement that was never sent");
    let s = promote.await.expect("promotion");
    assert_eq!(reply.pod.ordinal(), Some(1));
    assert_eq!(reply.affected_rows, 1);
    let rows = s.writers(1).await;
    assert_eq!(
        rows.values().sum::<u64>(),
        2,
        "each write applied once: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_in_flight_when_the_primary_dies_fails_as_outcome_unknown_naming_the_pod() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    let mut config = s.config();
    config.query_timeout = Duration::from_secs(30);
    let router = s.connect(config).await;
    router.execute("DO 1").await.expect("warm");

    let in_flight = tokio::spawn({
        let router = router.clone();
        async move { router.execute("DO SLEEP(20)").await }
    });
    eventually(
        "the statement running on mysql-0",
        Duration::from_secs(5),
        || async {
            let Ok(mut admin) = s.mysql.admin(0).await else {
                return false;
            };
            let running: Option<u64> = admin
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'DO SLEEP(20)'",
            )
            .await
            .ok()
            .flatten();
            running == Some(1)
        },
    )
    .await;
    s.mysql.kill(0).expect("kill the primary");

    let error = in_flight
        .await
        .expect("task")
        .expect_err("the connection died under the statement");
    assert!(matches!(error, Error::OutcomeUnknown { .. }), "{error:?}");
    assert!(error.is_outcome_unknown());
    assert!(!error.is_resendable(), "never sent again: {error}");
    assert_eq!(error.pod().and_then(|p| p.ordinal()), Some(0), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_loop_through_a_crash_failover_sees_no_error_for_what_was_never_sent() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let router = s.connect(s.config()).await;
    let mut service = ServiceBuilder::new()
        .retry(ResendPolicy::new(1, Duration::from_millis(100)))
        .service(router.primary_service());

    let mut acknowledged = 0u64;
    let mut errors = Vec::new();
    let mut promotion = None;
    let mut s = Some(s);
    for i in 0..150i64 {
        if i == 50 {
            let set = s.take().expect("set");
            set.mysql.wait_for_replication().await.expect("replicated");
            set.mysql.kill(0).expect("kill the primary");
            promotion = Some(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                set.mysql.promote(1).await.expect("promote mysql-1");
                set
            }));
        }
        match service.ready().await.expect("ready").call(insert(i)).await {
            Ok(_) => acknowledged += 1,
            Err(e) => errors.push(e),
        }
        tokio::time::sleep(LOOP_PAUSE).await;
    }
    let s = promotion.expect("promoted").await.expect("promotion");
    assert!(errors.len() <= 1, "{} errors: {errors:?}", errors.len());
    for error in &errors {
        assert!(error.is_outcome_unknown(), "{error}");
    }
    let rows: u64 = s.writers(1).await.values().sum();
    assert!(
        rows >= acknowledged && rows <= acknowledged + errors.len() as u64,
        "{rows} rows, {acknowledged} acknowledged, {} unknown",
        errors.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_cut_by_a_planned_switchover_fails_whole_typed_and_is_not_replayed() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let router = s.connect(s.config()).await;
    let mut session = router.primary().await.expect("primary");
    router.run_on(&mut session, "BEGIN").await.expect("BEGIN");
    router
        .run_on(&mut session, insert(1))
        .await
        .expect("first row, not committed");
    // `read_only` does not wait for open transactions: the rest of this one is refused.
    s.mysql.promote(1).await.expect("switchover to mysql-1");
    let error = router
        .run_on(&mut session, insert(2))
        .await
        .expect_err("refused on the old primary");
    assert_eq!(error.server_code(), Some(1290), "{error}");
    assert_eq!(error.pod().and_then(|p| p.ordinal()), Some(0), "{error}");
    assert!(!error.is_outcome_unknown(), "refused, so known: {error}");
    let _ = router.run_on(&mut session, "COMMIT").await;
    drop(session);
    // Nothing of it committed anywhere, and nothing of it sent again.
    s.mysql.wait_for_replication().await.expect("replicated");
    for ordinal in 0..3 {
        assert_eq!(
            s.writers(ordinal).await.values().sum::<u64>(),
            0,
            "mysql-{ordinal}"
        );
    }
    let reply = router.execute(insert(3)).await.expect("write after");
    assert_eq!(reply.pod.ordinal(), Some(1));
}

/// The `v` of every row of `t`, as pod `ordinal` has them.
async fn values(s: &support::Setup, ordinal: u32) -> Vec<i64> {
    let mut admin = s.mysql.admin(ordinal).await.expect("admin");
    admin
        .query("SELECT v FROM app.t ORDER BY v")
        .await
        .expect("rows")
}

/// A set with a table on mysql-0, a router that pings idle sessions (the default) and
/// one that never does.
async fn pinging_and_blind() -> (support::Setup, MySqlRouter, MySqlRouter) {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let pinging = s.connect(s.config()).await;
    let mut blind_config = s.config();
    blind_config.session_ping_after = None;
    let blind = s.connect(blind_config).await;
    (s, pinging, blind)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_session_idle_when_its_primary_dies_is_found_dead_before_the_write() {
    let (s, pinging, blind) = pinging_and_blind().await;
    let mut session = pinging.primary().await.expect("primary");
    let mut unchecked = blind.primary().await.expect("primary");
    pinging
        .run_on(&mut session, insert(1))
        .await
        .expect("write 1");
    blind
        .run_on(&mut unchecked, insert(2))
        .await
        .expect("write 2");
    s.mysql.wait_for_replication().await.expect("replicated");

    s.mysql.kill(0).expect("kill the primary");
    tokio::time::sleep(LOOP_PAUSE).await;
    let error = pinging
        .run_on(&mut session, insert(3))
        .await
        .expect_err("the session's server is gone");
    assert!(matches!(error, Error::SessionLost { .. }), "{error:?}");
    assert!(!error.is_outcome_unknown(), "found dead first: {error}");
    assert!(
        !error.is_resendable(),
        "the session is the caller's: {error}"
    );
    assert_eq!(error.pod().and_then(|p| p.ordinal()), Some(0), "{error}");
    // Without the ping the write goes out on the dead connection: the SDK cannot know.
    let error = blind
        .run_on(&mut unchecked, insert(4))
        .await
        .expect_err("the session's server is gone");
    assert!(error.is_outcome_unknown(), "{error:?}");

    s.mysql.promote(1).await.expect("promote mysql-1");
    let mut session = pinging.primary().await.expect("the new primary");
    pinging
        .run_on(&mut session, insert(5))
        .await
        .expect("write 5");
    assert_eq!(session.pod().ordinal(), Some(1));
    assert_eq!(values(&s, 1).await, [1, 2, 5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_cut_by_a_crash_fails_as_session_lost_and_none_of_it_is_applied() {
    let (s, pinging, blind) = pinging_and_blind().await;
    // Three transactions, each with a row written and not committed.
    let mut sessions = Vec::new();
    for (v, router) in [(1, &pinging), (2, &blind), (3, &blind)] {
        let mut session = router.primary().await.expect("primary");
        router.run_on(&mut session, "BEGIN").await.expect("BEGIN");
        router
            .run_on(&mut session, insert(v))
            .await
            .expect("uncommitted row");
        sessions.push(session);
    }
    let [mut pinged, mut in_transaction, mut committing] =
        <[_; 3]>::try_from(sessions).expect("three sessions");

    s.mysql.kill(0).expect("kill the primary");
    tokio::time::sleep(LOOP_PAUSE).await;
    // A statement inside the transaction: whatever it reached, the server rolled the
    // transaction back. No ping needed to know.
    let error = blind
        .run_on(&mut in_transaction, insert(4))
        .await
        .expect_err("the server is gone");
    assert!(matches!(error, Error::SessionLost { .. }), "{error:?}");
    // A COMMIT may commit: known not applied only if a ping found the connection dead.
    let error = pinging
        .run_on(&mut pinged, "COMMIT")
        .await
        .expect_err("the server is gone");
    assert!(matches!(error, Error::SessionLost { .. }), "{error:?}");
    let error = blind
        .run_on(&mut committing, "COMMIT")
        .await
        .expect_err("the server is gone");
    assert!(matches!(error, Error::OutcomeUnknown { .. }), "{error:?}");

    s.mysql.promote(1).await.expect("promote mysql-1");
    assert_eq!(values(&s, 1).await, Vec::<i64>::new(), "nothing committed");
}
