//! The MariaDB StatefulSet: real mariadbd pods, GTID replication, promotion, least privilege.
#![cfg(feature = "mysql")]

use std::time::Duration;

use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn app(set: &MariaDbStatefulSet, ordinal: u32) -> Result<Conn, mysql_async::Error> {
    Conn::new(
        set.app_opts(ordinal)
            .map_err(|e| mysql_async::Error::Other(e.into()))?,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicates_promotes_and_keeps_the_app_user_out_of_read_only_pods() -> TestResult {
    headless_discovery_testkit::init_tracing();
    let cluster = Cluster::start().await?;
    let started = std::time::Instant::now();
    let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql")).await?;
    eprintln!("3 pods up and replicating in {:?}", started.elapsed());

    let mut primary = app(&mysql, 0).await?;
    primary
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY, written_on INT)")
        .await?;
    primary
        .query_drop("INSERT INTO t VALUES (1, @@server_id)")
        .await?;
    mysql.wait_for_replication().await?;
    for ordinal in 1..3 {
        let mut replica = app(&mysql, ordinal).await?;
        let row: Option<(i32, u32)> = replica.query_first("SELECT id, written_on FROM t").await?;
        assert_eq!(row, Some((1, MariaDbStatefulSet::server_id(0))));
        let refused = replica
            .query_drop("INSERT INTO t VALUES (2, @@server_id)")
            .await
            .expect_err("a read_only replica refuses the app user");
        assert!(
            matches!(&refused, mysql_async::Error::Server(e) if e.code == 1290),
            "{refused}"
        );
    }

    mysql.kill(0)?;
    mysql.promote(1).await?;
    let mut new_primary = app(&mysql, 1).await?;
    new_primary
        .query_drop("INSERT INTO t VALUES (3, @@server_id)")
        .await?;
    mysql.restart(0).await?;
    mysql.wait_for_replication().await?;
    for ordinal in [0, 2] {
        let mut pod = app(&mysql, ordinal).await?;
        let count: Option<u32> = pod.query_first("SELECT COUNT(*) FROM t").await?;
        assert_eq!(count, Some(2), "pod {ordinal} follows the new primary");
        let read_only: Option<u8> = pod.query_first("SELECT @@read_only").await?;
        assert_eq!(read_only, Some(1));
    }

    mysql.stop_sql_thread(2).await?;
    let mut admin = mysql.admin(2).await?;
    let status: Option<mysql_async::Row> = admin.query_first("SHOW SLAVE STATUS").await?;
    let lag: Option<Option<u64>> = status.and_then(|row| row.get("Seconds_Behind_Master"));
    assert_eq!(lag, Some(None), "a stopped SQL thread reports NULL lag");
    mysql.delay_replica(0, Duration::from_secs(3)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_rejoins_as_a_replica_of_the_new_one() -> TestResult {
    let cluster = Cluster::start().await?;
    let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql")).await?;
    let mut primary = app(&mysql, 0).await?;
    primary
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await?;
    primary.query_drop("INSERT INTO t VALUES (1)").await?;
    mysql.kill(0)?;
    mysql.promote(1).await?;
    let mut new_primary = app(&mysql, 1).await?;
    new_primary
        .query_drop("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)")
        .await?;
    new_primary.query_drop("INSERT INTO t VALUES (2)").await?;
    mysql.restart(0).await?;
    let replicated = mysql.wait_for_replication().await;
    let mut admin = mysql.admin(0).await?;
    let status: Option<mysql_async::Row> = admin.query_first("SHOW SLAVE STATUS").await?;
    let error: Option<String> = status.and_then(|row| row.get("Last_SQL_Error"));
    // (the SQL thread's last error, if replication broke)
    replicated.map_err(|e| format!("{e}; mysql-0's IO error: {error:?}"))?;
    let mut rejoined = app(&mysql, 0).await?;
    let ids: Vec<i32> = rejoined.query("SELECT id FROM t ORDER BY id").await?;
    assert!(ids.contains(&2), "{ids:?}");
    Ok(())
}

/// A primary frozen through a failover wakes up writable, a second primary that nobody
/// fenced; `rejoin` rebuilds it from the new primary, dropping what only it took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_frozen_through_a_failover_is_unfenced_until_it_rejoins() -> TestResult {
    let cluster = Cluster::start().await?;
    let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql")).await?;
    let mut primary = app(&mysql, 0).await?;
    primary
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await?;
    mysql.wait_for_replication().await?;
    mysql.freeze(0)?;
    // Promoting must not wait on the frozen pod: it can neither go read_only nor answer.
    tokio::time::timeout(Duration::from_secs(10), mysql.promote(1)).await??;
    mysql.thaw(0)?;
    let read_only: Option<u8> = primary.query_first("SELECT @@read_only").await?;
    assert_eq!(read_only, Some(0), "nobody told the old primary");
    primary.query_drop("INSERT INTO t VALUES (1)").await?;
    mysql.rejoin(0).await?;
    mysql.wait_for_replication().await?;
    let mut rejoined = app(&mysql, 0).await?;
    let read_only: Option<u8> = rejoined.query_first("SELECT @@read_only").await?;
    assert_eq!(read_only, Some(1));
    let ids: Vec<i32> = rejoined.query("SELECT id FROM t").await?;
    assert!(ids.is_empty(), "the unfenced write is gone: {ids:?}");
    let mut new_primary = app(&mysql, 1).await?;
    new_primary.query_drop("INSERT INTO t VALUES (2)").await?;
    mysql.wait_for_replication().await?;
    let ids: Vec<i32> = rejoined.query("SELECT id FROM t").await?;
    assert_eq!(ids, [2], "it follows the new primary");
    Ok(())
}

/// A switchover (`promote` with the primary running) is the shipped `mysql.sh` steps:
/// the old primary frozen `read_only`, the candidate caught up and promoted, the others
/// repointed, here on pods that require TLS (`require-secure-transport`), so that the
/// write after it reaches the other pods only if the repoint asked for TLS
/// (`REPLICATION_SSL`). Only the candidate is writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchover_runs_the_shipped_steps_over_tls() -> TestResult {
    let cluster = Cluster::start().await?;
    let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql").tls(true)).await?;
    let mut admin = mysql.admin(0).await?;
    admin
        .query_drop("CREATE TABLE app.t (id INT PRIMARY KEY)")
        .await?;
    admin.query_drop("INSERT INTO app.t VALUES (1)").await?;
    drop(admin);
    mysql.promote(2).await?;
    let mut admin = mysql.admin(2).await?;
    admin.query_drop("INSERT INTO app.t VALUES (2)").await?;
    mysql.wait_for_replication().await?;
    for ordinal in 0..3 {
        let mut pod = mysql.admin(ordinal).await?;
        let ids: Vec<u32> = pod.query("SELECT id FROM app.t ORDER BY id").await?;
        assert_eq!(ids, [1, 2], "mysql-{ordinal}");
        let read_only: Option<u8> = pod.query_first("SELECT @@read_only").await?;
        assert_eq!(read_only, Some(u8::from(ordinal != 2)), "mysql-{ordinal}");
    }
    Ok(())
}
