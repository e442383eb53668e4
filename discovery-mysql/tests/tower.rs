//! The tower services with real mariadbd pods: writes on the primary through a failover,
//! reads on the replicas, one pod by name. (How long a write waits for a primary that
//! does not come, with tokio's clock paused, is in `tests/tests/paused.rs`.)

mod support;

use std::time::Duration;

use headless_discovery_mysql::{Error, Reply, Statement};
use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
use mysql_async::from_row;
use support::{eventually, setup};
use tower::{Service, ServiceExt};

fn server_id() -> Statement {
    Statement::new("SELECT @@server_id")
}

/// One statement through `service`, once it is ready.
async fn call<S>(service: &mut S, statement: Statement) -> Result<Reply, Error>
where
    S: Service<Statement, Response = Reply, Error = Error>,
{
    service.ready().await?.call(statement).await
}

/// The `@@server_id` a reply's single row carries.
fn id_of(reply: &Reply) -> u32 {
    let row = reply.rows.first().cloned().expect("one row");
    from_row::<u32>(row)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_services_write_on_the_primary_through_a_failover_and_read_on_replicas() {
    let s = setup(MariaDbSpec::new("mysql")).await;
    s.create_table(0).await;
    let router = s.connect(s.config()).await;
    let insert = || Statement::new("INSERT INTO t (v, written_on) VALUES (1, @@server_id)");

    let mut writes = router.primary_service();
    let reply = call(&mut writes, insert()).await.expect("write");
    assert_eq!(reply.pod.ordinal(), Some(0));
    assert_eq!(reply.affected_rows, 1);

    let mut reads = router.replica_service();
    for _ in 0..20 {
        let reply = call(&mut reads, server_id()).await.expect("read");
        assert_ne!(reply.pod.ordinal(), Some(0), "reads stay off the primary");
        assert_eq!(
            Some(id_of(&reply)),
            reply.pod.ordinal().map(MariaDbStatefulSet::server_id),
            "the reply names the pod that ran it"
        );
    }

    let third = router
        .topology()
        .by_ordinal(2)
        .map(|pod| pod.peer.clone())
        .expect("mysql-2 discovered");
    let reply = call(&mut router.pod_service(&third), server_id())
        .await
        .expect("read on mysql-2");
    assert_eq!(id_of(&reply), MariaDbStatefulSet::server_id(2));

    // The same service value follows the failover: nothing to rebuild in a tower stack.
    s.mysql.kill(0).expect("kill the primary");
    s.mysql.promote(1).await.expect("promote mysql-1");
    eventually(
        "mysql-1 seen as primary",
        Duration::from_secs(10),
        || async {
            router
                .topology()
                .leader_pod()
                .and_then(|p| p.peer.ordinal())
                == Some(1)
        },
    )
    .await;
    let reply = call(&mut writes, insert())
        .await
        .expect("write after the failover");
    assert_eq!(reply.pod.ordinal(), Some(1));
}
