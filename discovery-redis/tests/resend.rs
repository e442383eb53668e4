//! What was never sent waits for the new master; what may have been applied fails as
//! "outcome unknown". Real redis-server pods, killed for real.

mod support;

use std::time::Duration;

use headless_discovery::roles::{ResendPolicy, Resendable};
use headless_discovery_redis::Error;
use headless_discovery_testkit::redis::RedisSpec;
use redis::AsyncCommands;
use support::{eventually, fast_config, setup};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A write loop's pause: an application writing every 20 ms, as the bar says.
const LOOP_PAUSE: Duration = Duration::from_millis(20);

#[tokio::test(flavor = "multi_thread")]
async fn the_first_write_after_the_master_is_killed_waits_and_lands_on_the_new_master() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut master = router.master().await.expect("master");
    let before: i64 = master.incr("counter", 1).await.expect("first write");
    assert_eq!((before, master.pod().ordinal()), (1, Some(0)));
    s.redis.wait_for_replication().await.expect("replicated");

    s.redis.kill(0).expect("kill the master");
    tokio::time::sleep(LOOP_PAUSE).await;
    let promote = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.redis.promote(1).await.expect("promote redis-1");
        s
    });
    // Through redis-rs's own AsyncCommands: the dead connection is known dead, the dial
    // to redis-0 is refused, and the command waits for the master a probe names.
    let after: i64 = master
        .incr("counter", 1)
        .await
        .expect("no error for a write that was never sent");
    let s = promote.await.expect("promotion");
    assert_eq!(
        after, 2,
        "applied exactly once, on top of the replicated write"
    );
    assert_eq!(master.pod().ordinal(), Some(1));
    let mut direct = s.redis.connect(1).await.expect("redis-1");
    let counter: i64 = direct.get("counter").await.expect("get");
    assert_eq!(counter, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_in_flight_when_the_master_dies_fails_as_outcome_unknown_naming_the_pod() {
    let s = setup(RedisSpec::new("redis")).await;
    let mut config = fast_config();
    config.response_timeout = Duration::from_secs(30);
    let router = s.router(config).await;
    let mut master = router.master().await.expect("master");
    master.set::<_, _, ()>("warm", 1).await.expect("write");

    // BLPOP blocks on the server: once it shows as blocked, the command was received.
    let in_flight = tokio::spawn(async move {
        let popped: redis::RedisResult<Option<(String, String)>> = master.blpop("queue", 0.0).await;
        popped
    });
    let direct = s.redis.connect(0).await.expect("redis-0");
    eventually("BLPOP blocked on redis-0", Duration::from_secs(5), || {
        let mut direct = direct.clone();
        async move {
            let info: String = redis::cmd("INFO")
                .arg("clients")
                .query_async(&mut direct)
                .await
                .unwrap_or_default();
            info.lines().any(|l| l.trim() == "blocked_clients:1")
        }
    })
    .await;
    s.redis.kill(0).expect("kill the master");

    let error = in_flight
        .await
        .expect("task")
        .expect_err("the connection died under the command");
    let ours = Error::from_redis(&error).expect("our error inside redis-rs's");
    assert!(ours.is_outcome_unknown(), "{ours}");
    assert!(!ours.is_resendable(), "never sent again: {ours}");
    assert_eq!(ours.pod().and_then(|p| p.ordinal()), Some(0), "{ours}");
    assert!(
        error.is_connection_dropped() || error.is_io_error(),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("whether it was applied is unknown"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_loop_through_a_crash_failover_sees_no_error_for_what_was_never_sent() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut service = ServiceBuilder::new()
        .retry(ResendPolicy::new(1, Duration::from_millis(100)))
        .service(router.master_service());
    let mut incr = redis::cmd("INCR");
    incr.arg("counter");

    let mut acknowledged = 0i64;
    let mut errors = Vec::new();
    let mut killed = false;
    let mut promotion = None;
    let mut s = Some(s);
    for i in 0..150 {
        if i == 50 {
            let set = s.take().expect("set");
            set.redis.wait_for_replication().await.expect("replicated");
            set.redis.kill(0).expect("kill the master");
            killed = true;
            promotion = Some(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                set.redis.promote(1).await.expect("promote redis-1");
                set
            }));
        }
        match service
            .ready()
            .await
            .expect("ready")
            .call(incr.clone())
            .await
        {
            Ok(value) => {
                let value: i64 = redis::from_redis_value(value).expect("an integer");
                acknowledged += 1;
                assert!(value >= acknowledged, "{value} after {acknowledged} acks");
            }
            Err(e) => errors.push(e),
        }
        tokio::time::sleep(LOOP_PAUSE).await;
    }
    assert!(killed);
    let s = promotion.expect("promoted").await.expect("promotion");
    // Only a write in flight at the kill may fail, and only as outcome unknown.
    assert!(errors.len() <= 1, "{} errors: {errors:?}", errors.len());
    for error in &errors {
        assert!(error.is_outcome_unknown(), "{error}");
    }
    let mut direct = s.redis.connect(1).await.expect("redis-1");
    let counter: i64 = direct.get("counter").await.expect("get");
    // Each acknowledged write applied once; an unknown outcome may have applied too.
    assert!(
        counter >= acknowledged && counter <= acknowledged + errors.len() as i64,
        "counter {counter}, acknowledged {acknowledged}, unknown {}",
        errors.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_through_a_planned_switchover_apply_whole_and_once() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut master = router.master().await.expect("master");
    let writes = tokio::spawn(async move {
        let mut acknowledged = 0u64;
        let mut errors = Vec::new();
        for _ in 0..100 {
            let mut transaction = redis::pipe();
            transaction.atomic().incr("a", 1).incr("b", 1);
            match transaction.query_async::<(i64, i64)>(&mut master).await {
                Ok((a, b)) => {
                    assert_eq!(a, b, "a transaction applied in part");
                    acknowledged += 1;
                }
                Err(e) => errors.push(e),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (acknowledged, errors, master.pod().ordinal())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.redis
        .switchover(1, Duration::from_secs(2))
        .await
        .expect("switchover to redis-1");
    let (acknowledged, errors, ordinal) = writes.await.expect("writer");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ordinal, Some(1));
    let mut direct = s.redis.connect(1).await.expect("redis-1");
    let (a, b): (Option<u64>, Option<u64>) = redis::pipe()
        .get("a")
        .get("b")
        .query_async(&mut direct)
        .await
        .expect("GET");
    assert_eq!((a, b), (Some(acknowledged), Some(acknowledged)));
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_on_a_held_pod_connection_or_a_pod_service_say_whether_they_were_sent() {
    use headless_discovery::roles::ReadPolicy;

    let s = setup(RedisSpec::new("redis")).await;
    let mut config = fast_config();
    config.response_timeout = Duration::from_secs(30);
    let router = s.router(config).await;
    let mut session = router.read(&ReadPolicy::Leader).await.expect("session");
    assert_eq!(session.pod().ordinal(), Some(0));
    let mut service = router.pod_service(session.pod());
    let mut idle = router.read(&ReadPolicy::Leader).await.expect("session");
    idle.query(redis::cmd("SET").arg("warm").arg(1))
        .await
        .expect("write");

    // Two writes the server received and blocks on, one per path.
    let blpop = || redis::cmd("BLPOP").arg("queue").arg(0).clone();
    let held = tokio::spawn(async move {
        let popped: redis::RedisResult<Option<(String, String)>> =
            blpop().query_async(&mut session).await;
        popped
    });
    let called =
        tokio::spawn(async move { service.ready().await.expect("ready").call(blpop()).await });
    let direct = s.redis.connect(0).await.expect("redis-0");
    eventually(
        "a BLPOP blocked on redis-0, the other queued behind it",
        Duration::from_secs(5),
        || {
            let mut direct = direct.clone();
            async move {
                let clients: String = redis::cmd("CLIENT")
                    .arg("LIST")
                    .query_async(&mut direct)
                    .await
                    .unwrap_or_default();
                clients.lines().any(|client| {
                    client.contains("cmd=blpop")
                        && client
                            .split(' ')
                            .any(|f| f.starts_with("qbuf=") && f != "qbuf=0")
                })
            }
        },
    )
    .await;
    s.redis.kill(0).expect("kill the master");

    let error = held.await.expect("task").expect_err("the connection died");
    let ours = Error::from_redis(&error).expect("our error inside redis-rs's");
    assert!(ours.is_outcome_unknown(), "{ours}");
    assert!(!ours.is_resendable(), "{ours}");
    assert_eq!(ours.pod().and_then(|p| p.ordinal()), Some(0), "{ours}");
    let ours = called
        .await
        .expect("task")
        .expect_err("the connection died");
    assert!(ours.is_outcome_unknown(), "{ours}");
    assert!(!ours.is_resendable(), "{ours}");

    // A write handed to the connection after its socket met EOF was never sent.
    tokio::time::sleep(LOOP_PAUSE).await;
    let error = idle
        .query(redis::cmd("SET").arg("after").arg(1))
        .await
        .expect_err("redis-0 is gone");
    assert!(
        matches!(error, Error::Pod { .. }) && !error.is_outcome_unknown(),
        "{error:?}"
    );
    assert!(error.is_resendable(), "never sent: {error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_has_its_own_connection_so_no_other_request_lands_in_its_transaction() {
    let s = setup(RedisSpec::new("redis")).await;
    let router = s.router(fast_config()).await;
    let mut session = router.session().await.expect("session");
    assert_eq!(session.pod().ordinal(), Some(0));
    let mut master = router.master().await.expect("master");
    let mut reads = router.replica().await.expect("replica");

    // MULTI and EXEC sent one command at a time, other requests in between.
    let ok = session.query(&redis::cmd("MULTI")).await.expect("MULTI");
    assert_eq!(ok, redis::Value::Okay);
    session
        .query(redis::cmd("INCR").arg("mine"))
        .await
        .expect("queued");
    let theirs: i64 = master
        .incr("theirs", 1)
        .await
        .expect("another task's write");
    assert_eq!(
        theirs, 1,
        "applied at once, not queued in the session's transaction"
    );
    let _: Option<i64> = reads.get("theirs").await.expect("another task's read");
    let replies: Vec<i64> =
        redis::from_redis_value(session.query(&redis::cmd("EXEC")).await.expect("EXEC"))
            .expect("EXEC's replies");
    assert_eq!(replies, [1], "the session's own command, and only it");
}
