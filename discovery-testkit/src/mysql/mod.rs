//! A MariaDB StatefulSet of real `mariadbd` processes, one per pod, each listening on its
//! own loopback pod address at port 3306 as in Kubernetes, with GTID replication from the
//! first pod and the pods published in the cluster's DNS.
//!
//! The application user it creates has least privilege (DML and DDL on one database, plus
//! `SLAVE MONITOR`): on MariaDB 10.11 a user with `ALL` or `SUPER` writes straight through
//! `read_only`, which would hide every routing mistake.
//!
//! ```no_run
//! use headless_discovery_testkit::Cluster;
//! use headless_discovery_testkit::mysql::{MariaDbSpec, MariaDbStatefulSet};
//!
//! # async fn demo() -> Result<(), headless_discovery_testkit::Error> {
//! let cluster = Cluster::builder().ttl(1).start().await?;
//! let mysql = MariaDbStatefulSet::start(&cluster, MariaDbSpec::new("mysql").replicas(3)).await?;
//! mysql.kill(0)?;             // SIGKILL the primary, its pod turns unready
//! mysql.promote(1).await?;    // mysql-1 becomes primary, mysql-2 follows it
//! mysql.restart(0).await?;    // back as a replica of mysql-1
//! # Ok(()) }
//! ```

mod pod;

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder};

use crate::scripts::Script;
use crate::servers::{Redacted, Server, ServerSet, ServerSpec, Upstream};
use crate::{Cluster, Error};

use pod::PodConfig;

/// The port every MariaDB pod listens on.
pub const MYSQL_PORT: u16 = 3306;
/// How long a pod may take to start, or a replica to catch up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The replication user's password (the replication user is internal to the set).
const REPLICATION_PASSWORD: &str = "testkit-replication";

/// MariaDB's own settings in a [`MariaDbSpec`]: the application user, its password and
/// its database, `app`/`app-password` on `app` unless set.
#[derive(Clone, Debug)]
pub struct MariaDb {
    user: String,
    password: Redacted,
    database: String,
}

impl Default for MariaDb {
    fn default() -> Self {
        Self {
            user: "app".to_owned(),
            password: Redacted("app-password".to_owned()),
            database: "app".to_owned(),
        }
    }
}

impl Server for MariaDb {
    const KIND: &'static str = "mariadb";
    const PORT_NAME: &'static str = "mysql";
    const PORT: u16 = MYSQL_PORT;
}

/// What MariaDB StatefulSet to run: `MariaDbSpec::new("mysql").replicas(3)`, with TLS
/// required on every connection when asked.
pub type MariaDbSpec = ServerSpec<MariaDb>;

impl MariaDbSpec {
    /// The application user and its password.
    #[must_use]
    pub fn user(mut self, user: &str, password: &str) -> Self {
        self.server.user = user.to_owned();
        self.server.password = Redacted(password.to_owned());
        self
    }

    /// The application database.
    #[must_use]
    pub fn database(mut self, database: &str) -> Self {
        self.server.database = database.to_owned();
        self
    }
}

/// A running MariaDB StatefulSet. Every process is killed, and its files removed, when
/// this is dropped.
pub type MariaDbStatefulSet = ServerSet<MariaDb>;

impl MariaDbStatefulSet {
    /// Declares the StatefulSet in `cluster` (named port `mysql`, 3306), starts one
    /// `mariadbd` per pod, creates the users and database on the first ordinal and makes
    /// the others replicate it (`MASTER_USE_GTID=slave_pos`, `read_only=1`). Returns once
    /// every replica has applied everything.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if MariaDB is missing or a pod does not come up in time.
    pub async fn start(cluster: &Cluster, spec: MariaDbSpec) -> Result<Self, Error> {
        let first = spec.set.start_ordinal;
        let this = Self::declare(cluster, spec)?;
        let template = this.dir().join("template");
        let installing = template.clone();
        let tmpdir = this.dir().to_owned();
        tokio::task::spawn_blocking(move || pod::install(&installing, &tmpdir))
            .await
            .map_err(|e| Error::Process(format!("mariadb-install-db: {e}")))??;
        for pod in this.statefulset().pods() {
            let dir = this.create_pod_dir(pod.ordinal)?;
            pod::copy_datadir(&template, &dir.join("data"))?;
            this.spawn(pod.ordinal)?;
        }
        for pod in this.statefulset().pods() {
            this.wait_until_up(pod.ordinal).await?;
        }
        this.bootstrap(first).await?;
        for pod in this.statefulset().pods() {
            if pod.ordinal != first {
                this.repoint(pod.ordinal, first, "slave_pos").await?;
            }
        }
        this.wait_for_replication().await?;
        Ok(this)
    }

    /// The application user.
    pub fn user(&self) -> &str {
        &self.server.user
    }

    /// The application user's password.
    pub fn password(&self) -> &str {
        &self.server.password.0
    }

    /// The application database.
    pub fn database(&self) -> &str {
        &self.server.database
    }

    /// The pod's `server_id`: 100 + ordinal, as in the Kubernetes tutorial. Rows written
    /// with `@@server_id` say which pod executed a statement.
    pub fn server_id(ordinal: u32) -> u32 {
        100 + ordinal
    }

    /// Options for a direct connection to one pod as the application user, over TCP to its
    /// IP (no TLS settings), e.g. for a baseline next to the SDK.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn app_opts(&self, ordinal: u32) -> Result<OptsBuilder, Error> {
        Ok(OptsBuilder::default()
            .ip_or_hostname(self.ip(ordinal)?.to_string())
            .tcp_port(MYSQL_PORT)
            .user(Some(self.server.user.clone()))
            .pass(Some(self.server.password.0.clone()))
            .db_name(Some(self.server.database.clone()))
            .prefer_socket(false))
    }

    /// An admin (root) connection to one pod over its Unix socket, for setting up and
    /// checking tests.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if the pod does not answer.
    pub async fn admin(&self, ordinal: u32) -> Result<Conn, Error> {
        pod::admin(&self.pod_dir(ordinal)).await
    }

    /// Runs statements as root on one pod.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] naming the statement that failed.
    pub async fn execute(&self, ordinal: u32, statements: &[&str]) -> Result<(), Error> {
        let mut conn = self.admin(ordinal).await?;
        let statements: Vec<String> = statements.iter().map(|s| (*s).to_owned()).collect();
        pod::run(&mut conn, &statements).await
    }

    /// Starts a killed pod again at the same address, replicating the pod it should follow
    /// now, and marks it ready once it answers. A replica keeps its data. A primary killed
    /// and replaced meanwhile may hold writes that never reached any replica (replication
    /// is asynchronous), so it is rebuilt as a clone of the new primary, as the Kubernetes
    /// tutorial's `clone-mysql` init container does.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if it does not come up.
    pub async fn restart(&self, ordinal: u32) -> Result<(), Error> {
        self.ensure_stopped(ordinal)?;
        let (upstream, diverged) = {
            let mut state = self.state();
            let upstream = state.upstream.get(&ordinal).copied();
            let was_primary = state.needs_clone.remove(&ordinal);
            (
                upstream,
                was_primary && matches!(upstream, Some(Upstream::Of(_))),
            )
        };
        if diverged {
            let data = self.pod_dir(ordinal).join("data");
            std::fs::remove_dir_all(&data)
                .map_err(|e| Error::Process(format!("removing {}: {e}", data.display())))?;
            pod::copy_datadir(&self.dir().join("template"), &data)?;
        }
        self.spawn(ordinal)?;
        self.wait_until_up(ordinal).await?;
        if let Some(Upstream::Of(primary)) = upstream {
            let gtid = if diverged {
                pod::clone_data(&self.pod_dir(primary), &self.pod_dir(ordinal)).await?;
                "slave_pos"
            } else {
                "current_pos"
            };
            self.repoint(ordinal, primary, gtid).await?;
        }
        self.statefulset().set_ready(ordinal, true)
    }

    /// Promotes a replica as an operator would: the old primary (if it runs) goes
    /// `read_only`, the replica catches up with it, stops replicating and turns writable,
    /// and every other pod (killed ones when they restart) replicates the new primary.
    /// DNS does not change: roles are not in DNS. With the old primary running, this is
    /// the planned switchover.
    ///
    /// Each step is the example manifests' own `mysql.sh` (`freeze`, `catch-up`,
    /// `promote`, `follow`, from the `mysql` ConfigMap of `examples/k8s/mysql.yaml`), run
    /// here with `sh` and the `mariadb` client on each pod's socket, in the order the
    /// drill in `examples/minikube.sh` runs them: what users run on minikube, the pod
    /// runner's and the soak's switchovers are one script.
    ///
    /// A frozen pod cannot be told: a frozen old primary wakes up writable, a second
    /// primary, until [`rejoin`](Self::rejoin) rebuilds it.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if a step fails, with what it printed (the candidate not
    /// reaching the old primary's position within 10 s leaves it unpromoted and the old
    /// primary `read_only`).
    pub async fn promote(&self, ordinal: u32) -> Result<(), Error> {
        let old: Vec<u32> = {
            let mut state = self.state();
            let old = state.running_leaders(Some(ordinal));
            // Frozen through the failover, it may hold writes the new primary never got.
            let frozen: Vec<u32> = old.iter().copied().filter(|o| !state.answers(*o)).collect();
            state.needs_clone.extend(&frozen);
            old.into_iter().filter(|o| !frozen.contains(o)).collect()
        };
        let mut position = String::new();
        for primary in old {
            position = self.step(primary, &["freeze"]).await?.trim().to_owned();
        }
        // Never promote a candidate that has not applied everything the old primary
        // acknowledged: that is how a planned switchover loses writes.
        if !position.is_empty() {
            self.step(ordinal, &["catch-up", &position]).await?;
        }
        self.step(ordinal, &["promote"]).await?;
        let others = self.state().promoted(ordinal);
        let promoted = self.gtid_current_pos(ordinal).await?;
        let ip = self.ip(ordinal)?.to_string();
        for other in others {
            let theirs = self.gtid_current_pos(other).await?;
            if gtid_reached(&promoted, &theirs) {
                self.step(other, &["follow", &ip]).await?;
            } else {
                // It received writes of the dead primary that the promoted pod never got
                // (replication is asynchronous): GTID strict mode would stop it, so it is
                // rebuilt from the new primary, losing those writes as the cluster did.
                tracing::warn!(pod = other, promoted = %promoted, theirs = %theirs, "mysql pod has transactions the new primary lacks: rebuilding it as a clone");
                self.kill(other)?;
                self.state().needs_clone.insert(other);
                self.restart(other).await?;
            }
        }
        Ok(())
    }

    /// Runs one step of the shipped `mysql.sh` for pod `ordinal`: as root on its socket
    /// (the client settings of its `my.cnf`), with the environment the pod would give it.
    async fn step(&self, ordinal: u32, args: &[&str]) -> Result<String, Error> {
        let client = PodConfig::cnf(&self.pod_dir(ordinal));
        let set = self.statefulset();
        let env = [
            ("POD_NAME", format!("{}-{ordinal}", set.name())),
            ("POD_NAMESPACE", set.namespace().to_owned()),
            ("SERVICE_NAME", set.name().to_owned()),
            ("MYSQL_CLIENT_CONFIG", client.display().to_string()),
            ("REPLICATION_PASSWORD", REPLICATION_PASSWORD.to_owned()),
            ("REPLICATION_SSL", u8::from(self.ca().is_some()).to_string()),
        ];
        Script::mysql()?.run(args, &env).await
    }

    async fn gtid_current_pos(&self, ordinal: u32) -> Result<String, Error> {
        let mut conn = self.admin(ordinal).await?;
        Ok(pod::value::<String>(&mut conn, "SELECT @@gtid_current_pos")
            .await?
            .unwrap_or_default())
    }

    /// Makes a pod that missed a failover (frozen through it) replicate the primary it
    /// should follow now. A thawed old primary is writable and takes writes until this
    /// runs; it is then rebuilt as a clone of the primary, dropping them, as the
    /// Kubernetes tutorial's `clone-mysql` would. A replica is just repointed.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if the pod should be the primary; [`Error::Process`] if it does not
    /// come back.
    pub async fn rejoin(&self, ordinal: u32) -> Result<(), Error> {
        let (upstream, diverged) = {
            let state = self.state();
            let upstream = state.upstream.get(&ordinal).copied();
            (upstream, state.needs_clone.contains(&ordinal))
        };
        match upstream {
            Some(Upstream::Of(_)) if diverged => {
                self.kill(ordinal)?;
                self.restart(ordinal).await
            }
            Some(Upstream::Of(primary)) => self.repoint(ordinal, primary, "current_pos").await,
            _ => Err(Error::Spec(format!(
                "mariadb pod {ordinal} is the primary; there is nothing to rejoin"
            ))),
        }
    }

    /// Makes one pod a `read_only` replica of `primary` behind everyone's back: DNS does
    /// not change, and no other pod is touched.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if a statement fails.
    pub async fn make_replica_of(&self, ordinal: u32, primary: u32) -> Result<(), Error> {
        self.repoint(ordinal, primary, "current_pos").await
    }

    /// Delays a replica's SQL thread (`MASTER_DELAY`): it applies each event `delay` after
    /// the primary wrote it, so its lag grows with every write.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if a statement fails.
    pub async fn delay_replica(&self, ordinal: u32, delay: Duration) -> Result<(), Error> {
        self.execute(
            ordinal,
            &[
                "STOP SLAVE",
                &format!("CHANGE MASTER TO MASTER_DELAY = {}", delay.as_secs()),
                "START SLAVE",
            ],
        )
        .await
    }

    /// Stops a replica's SQL thread: its lag becomes NULL and it applies nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if the statement fails.
    pub async fn stop_sql_thread(&self, ordinal: u32) -> Result<(), Error> {
        self.execute(ordinal, &["STOP SLAVE SQL_THREAD"]).await
    }

    /// Starts a replica's SQL thread again.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if the statement fails.
    pub async fn start_sql_thread(&self, ordinal: u32) -> Result<(), Error> {
        self.execute(ordinal, &["START SLAVE SQL_THREAD"]).await
    }

    /// Waits until every running replica has applied everything its primary had written
    /// when this was called (`MASTER_GTID_WAIT`).
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if that does not happen within 20 s.
    pub async fn wait_for_replication(&self) -> Result<(), Error> {
        let replicas = self.state().running_replicas();
        let mut positions: BTreeMap<u32, String> = BTreeMap::new();
        for (ordinal, primary) in replicas {
            let position = match positions.get(&primary) {
                Some(position) => position.clone(),
                None => {
                    let mut conn = self.admin(primary).await?;
                    let position = pod::value::<String>(&mut conn, "SELECT @@gtid_binlog_pos")
                        .await?
                        .unwrap_or_default();
                    positions.insert(primary, position.clone());
                    position
                }
            };
            let mut conn = self.admin(ordinal).await?;
            // `gtid_current_pos`, not MASTER_GTID_WAIT: an old primary that follows the new
            // one has executed the earlier transactions itself, not as a replica.
            let deadline = tokio::time::Instant::now() + START_TIMEOUT;
            loop {
                let current = pod::value::<String>(&mut conn, "SELECT @@gtid_current_pos")
                    .await?
                    .unwrap_or_default();
                if gtid_reached(&current, &position) {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Process(format!(
                        "mariadb pod {ordinal} is at `{current}`, not `{position}`, after {START_TIMEOUT:?}"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Users, database and grants, on the primary (they replicate from there).
    async fn bootstrap(&self, primary: u32) -> Result<(), Error> {
        let MariaDb {
            user,
            password,
            database,
        } = &self.server;
        let mut conn = self.admin(primary).await?;
        pod::run(
            &mut conn,
            &[
                format!(
                    "CREATE USER 'repl'@'%' IDENTIFIED BY '{REPLICATION_PASSWORD}'"
                ),
                "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'".to_owned(),
                format!("CREATE DATABASE `{database}`"),
                format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{}'", password.0),
                format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON `{database}`.* TO '{user}'@'%'"
                ),
                format!("GRANT SLAVE MONITOR ON *.* TO '{user}'@'%'"),
            ],
        )
        .await
    }

    /// Makes `ordinal` a read-only replica of `primary`.
    async fn repoint(&self, ordinal: u32, primary: u32, gtid: &str) -> Result<(), Error> {
        let ip = self.ip(primary)?;
        let ssl = if self.ca().is_some() {
            ", MASTER_SSL = 1"
        } else {
            ""
        };
        self.execute(
            ordinal,
            &[
                "SET GLOBAL read_only = 1",
                "STOP SLAVE",
                &format!(
                    "CHANGE MASTER TO MASTER_HOST = '{ip}', MASTER_PORT = {MYSQL_PORT}, \
                     MASTER_USER = 'repl', MASTER_PASSWORD = '{REPLICATION_PASSWORD}', \
                     MASTER_USE_GTID = {gtid}, MASTER_CONNECT_RETRY = 1{ssl}"
                ),
                "START SLAVE",
            ],
        )
        .await?;
        self.state().upstream.insert(ordinal, Upstream::Of(primary));
        Ok(())
    }

    fn spawn(&self, ordinal: u32) -> Result<(), Error> {
        let dir = self.pod_dir(ordinal);
        let ip = self.ip(ordinal)?;
        let tls = self.pod_tls(ordinal)?;
        let read_only = self.state().upstream.get(&ordinal) != Some(&Upstream::None);
        let process = PodConfig {
            dir: &dir,
            ip,
            server_id: Self::server_id(ordinal),
            read_only,
            tls: tls.as_ref(),
        }
        .spawn()?;
        self.started(ordinal, process);
        Ok(())
    }

    async fn wait_until_up(&self, ordinal: u32) -> Result<(), Error> {
        let dir = self.pod_dir(ordinal);
        pod::wait_until_up(&dir, START_TIMEOUT).await.map_err(|e| {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            Error::Process(format!(
                "mariadb pod {ordinal}: {e}; error.log ends: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        })
    }
}

/// Whether `mariadbd` and `mariadb-install-db` can be found (for demos that fall back to
/// DNS alone when they are not).
pub fn available() -> bool {
    ["mariadbd", "mariadb-install-db"]
        .iter()
        .all(|name| crate::process::find_program(name).is_some())
}

/// Whether GTID position `current` (`domain-server-seq`, comma-separated) includes
/// `target`: every domain of `target` is at or past its sequence number in `current`.
fn gtid_reached(current: &str, target: &str) -> bool {
    let parse = |position: &str| -> BTreeMap<u64, u64> {
        position
            .split(',')
            .filter_map(|gtid| {
                let mut parts = gtid.trim().split('-');
                let domain = parts.next()?.parse().ok()?;
                let _server = parts.next()?;
                let seq = parts.next()?.parse().ok()?;
                Some((domain, seq))
            })
            .collect()
    };
    let current = parse(current);
    parse(target)
        .iter()
        .all(|(domain, seq)| current.get(domain).is_some_and(|c| c >= seq))
}

#[cfg(test)]
mod tests {
    #[test]
    fn gtid_positions_compare_per_domain() {
        use super::gtid_reached;
        assert!(gtid_reached("0-101-7", "0-100-6"));
        assert!(gtid_reached("0-101-7,1-100-3", "1-100-3"));
        assert!(!gtid_reached("0-101-5", "0-100-6"));
        assert!(!gtid_reached("", "0-100-1"));
        assert!(gtid_reached("", ""));
    }
}
