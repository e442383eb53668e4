//! The demo's second half: a Redis and a MariaDB StatefulSet of real server processes,
//! their roles, routed reads and writes, and a failover each, timed.

use std::time::Duration;

use headless_discovery::Discovery;
use headless_discovery_mysql::{MySqlConfig, MySqlRouter, Statement};
use headless_discovery_redis::{ReadPolicy, RedisConfig, RedisRouter};
use headless_discovery_testkit::Cluster;
use headless_discovery_testkit::mysql::{self, MariaDbSpec, MariaDbStatefulSet};
use headless_discovery_testkit::redis::{RedisSpec, RedisStatefulSet};
use mysql_async::prelude::Queryable;
use redis::AsyncCommands;
use tokio::time::Instant;

use super::demo::{indent, step};

/// How long a failover may take before the demo calls it a failure.
const PATIENCE: Duration = Duration::from_secs(15);

/// The store StatefulSets the demo started (kept for `--keep`).
#[derive(Default)]
pub(crate) struct Stores {
    pub(crate) redis: Option<RedisStatefulSet>,
    pub(crate) mysql: Option<MariaDbStatefulSet>,
}

/// Runs the Redis and MySQL parts, each only when its server is installed.
pub(crate) async fn run(cluster: &Cluster, discovery: &Discovery) -> Result<Stores, String> {
    let mut stores = Stores::default();
    if headless_discovery_testkit::redis::available() {
        stores.redis = Some(redis_part(cluster, discovery).await?);
    } else {
        step("Redis: skipped, redis-server is not installed (apt-get install redis-server)");
    }
    if mysql::available() {
        stores.mysql = Some(mysql_part(cluster, discovery).await?);
    } else {
        step("MariaDB: skipped, mariadbd is not installed (apt-get install mariadb-server)");
    }
    Ok(stores)
}

async fn redis_part(cluster: &Cluster, discovery: &Discovery) -> Result<RedisStatefulSet, String> {
    step("Redis: 3 real redis-server pods, redis-0 master; the client asks each its role");
    let redis = RedisStatefulSet::start(cluster, RedisSpec::new("redis").namespace("demo"))
        .await
        .map_err(|e| e.to_string())?;
    let router = RedisRouter::connect(discovery, "_redis._tcp.redis.demo", RedisConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", indent(&super::redis::table(&router.topology())));

    let mut lines = Vec::new();
    for i in 0..3 {
        let mut master = router.master().await.map_err(|e| e.to_string())?;
        let n: i64 = master
            .incr("demo:visits", 1)
            .await
            .map_err(|e| e.to_string())?;
        // Replication is asynchronous: WAIT until both replicas have the write, so the
        // read below sees it and the crash below cannot lose it.
        let replicated: i64 = redis::cmd("WAIT")
            .arg(2)
            .arg(2000)
            .query_async(&mut master)
            .await
            .map_err(|e| e.to_string())?;
        let mut replica = router
            .read(&ReadPolicy::ReplicaPreferred)
            .await
            .map_err(|e| e.to_string())?;
        let seen: Option<i64> = replica
            .get("demo:visits")
            .await
            .map_err(|e| e.to_string())?;
        lines.push(format!(
            "  write {i}: INCR -> {n} on {} (WAIT: on {replicated} replicas); GET -> {seen:?} on {}",
            master.pod().hostname(),
            replica.pod().hostname()
        ));
    }
    println!("{}", lines.join("\n"));

    println!(
        "  (Redis replicates asynchronously: a write no replica has yet is lost when the master\n   crashes. WAIT made sure these were on both replicas before the SIGKILL.)"
    );
    step("Redis failover: SIGKILL redis-0, promote redis-1 (REPLICAOF NO ONE)");
    redis.kill(0).map_err(|e| e.to_string())?;
    redis.promote(1).await.map_err(|e| e.to_string())?;
    let promoted = Instant::now();
    let mut master = router.master().await.map_err(|e| e.to_string())?;
    loop {
        if let Ok(n) = master.incr::<_, _, i64>("demo:visits", 1).await
            && master.pod().ordinal() == Some(1)
        {
            println!(
                "  first write on the new master {} after {:.1?} (INCR -> {n})",
                master.pod().hostname(),
                promoted.elapsed()
            );
            break;
        }
        if promoted.elapsed() > PATIENCE {
            return Err("writes never reached the new Redis master".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    redis.restart(0).await.map_err(|e| e.to_string())?;
    redis
        .make_replica_of(0, 1)
        .await
        .map_err(|e| e.to_string())?;
    Ok(redis)
}

async fn mysql_part(
    cluster: &Cluster,
    discovery: &Discovery,
) -> Result<MariaDbStatefulSet, String> {
    step("MariaDB: 3 real mariadbd pods, GTID replication from mysql-0; @@read_only decides");
    let mysql = MariaDbStatefulSet::start(cluster, MariaDbSpec::new("mysql").namespace("demo"))
        .await
        .map_err(|e| e.to_string())?;
    let config = MySqlConfig::new(mysql.user(), mysql.password()).database(mysql.database());
    let handle = MySqlRouter::connect(discovery, "_mysql._tcp.mysql.demo", config)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", indent(&super::mysql::table(&handle.topology())));
    handle
        .execute("CREATE TABLE visits (id INT AUTO_INCREMENT PRIMARY KEY, written_on INT)")
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..3 {
        let (line, _) = write_then_read(&handle).await?;
        println!("  write {i}: {line}");
    }

    step("MariaDB failover: SIGKILL mysql-0, promote mysql-1 (read_only=0), repoint mysql-2");
    mysql.kill(0).map_err(|e| e.to_string())?;
    mysql.promote(1).await.map_err(|e| e.to_string())?;
    let promoted = Instant::now();
    loop {
        match write_then_read(&handle).await {
            Ok((line, Some(1))) => {
                println!(
                    "  first write on the new primary after {:.1?}: {line}",
                    promoted.elapsed()
                );
                break;
            }
            _ if promoted.elapsed() > PATIENCE => {
                return Err("writes never reached the new MariaDB primary".to_owned());
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    mysql.restart(0).await.map_err(|e| e.to_string())?;
    Ok(mysql)
}

/// One insert on the primary, then a read-your-writes count on a replica.
async fn write_then_read(handle: &MySqlRouter) -> Result<(String, Option<u32>), String> {
    let mut primary = handle.primary().await.map_err(|e| e.to_string())?;
    let insert = Statement::new("INSERT INTO visits (written_on) VALUES (@@server_id)");
    if let Err(e) = primary.query_drop(insert.sql()).await {
        handle.observe(&e);
        return Err(e.to_string());
    }
    let token = primary.token().await.map_err(|e| e.to_string())?;
    let written_on = primary.pod().clone();
    drop(primary);
    let mut replica = handle
        .replica_after(&token)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Option<u64> = replica
        .query_first("SELECT COUNT(*) FROM visits")
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        format!(
            "INSERT on {} (GTID {}); COUNT(*) -> {} on {}{}",
            written_on.hostname(),
            token.gtid(),
            rows.unwrap_or_default(),
            replica.pod().hostname(),
            if replica.is_fallback() {
                " (fallback)"
            } else {
                ""
            }
        ),
        written_on.ordinal(),
    ))
}
