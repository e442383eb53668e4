//! One `mariadbd` process: its data directory, configuration, and admin connection.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use super::MYSQL_PORT;
use crate::Error;
use crate::process::{ServerProcess, find_program};
use crate::tls::PodTlsFiles;

/// Small InnoDB files and buffers: a pod starts in a fraction of a second and takes
/// ~100 MB of memory, and tests run many of them.
const LEAN: &[&str] = &[
    "innodb-log-file-size=8M",
    "innodb-buffer-pool-size=16M",
    "performance-schema=0",
];

/// The program's path, or its bare name (so that a missing one fails to spawn with
/// the install hint).
fn program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| PathBuf::from(name))
}

/// Creates a fresh data directory (system tables, root@localhost without a password) at
/// `datadir`. Done once per StatefulSet; the pods get copies.
pub(super) fn install(datadir: &Path, tmpdir: &Path) -> Result<(), Error> {
    let mut command = Command::new(program("mariadb-install-db"));
    command
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", datadir.display()))
        // Installs running side by side in one /tmp trip over each other's temporary tables.
        .arg(format!("--tmpdir={}", tmpdir.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .args(LEAN.iter().map(|o| format!("--{o}")));
    let output = command.output().map_err(|e| {
        Error::Process(format!(
            "running mariadb-install-db: {e} (install mariadb-server; scripts/test does)"
        ))
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Process(format!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .filter(|l| l.contains("ERROR"))
                .collect::<Vec<_>>()
                .join(" | ")
        )))
    }
}

/// Copies the installed template data directory for one pod.
pub(super) fn copy_datadir(template: &Path, datadir: &Path) -> Result<(), Error> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(datadir)
        .status()
        .map_err(|e| Error::Process(format!("copying the data directory: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Process(format!(
            "copying {} to {} failed",
            template.display(),
            datadir.display()
        )))
    }
}

/// One pod's server settings.
pub(super) struct PodConfig<'a> {
    pub(super) dir: &'a Path,
    pub(super) ip: IpAddr,
    pub(super) server_id: u32,
    pub(super) read_only: bool,
    pub(super) tls: Option<&'a PodTlsFiles>,
}

impl PodConfig<'_> {
    /// The pod's `my.cnf`: the server's settings, and the client's for root on the
    /// socket (what the shipped `mysql.sh` steps connect with).
    pub(super) fn cnf(dir: &Path) -> PathBuf {
        dir.join("my.cnf")
    }

    pub(super) fn socket(dir: &Path) -> PathBuf {
        dir.join("mysqld.sock")
    }

    /// Writes `my.cnf`: GTID binary logs on every pod (so any replica can be promoted and
    /// the others follow it), strict GTID mode, row events, `read_only` on replicas.
    fn write(&self) -> Result<PathBuf, Error> {
        let dir = self.dir;
        let mut cnf = format!(
            "[mariadbd]\n\
             datadir={data}\n\
             socket={socket}\n\
             pid-file={dir}/mysqld.pid\n\
             log-error={dir}/error.log\n\
             tmpdir={dir}\n\
             bind-address={ip}\n\
             port={MYSQL_PORT}\n\
             server-id={id}\n\
             log-bin={data}/binlog\n\
             log-basename=pod{id}\n\
             binlog-format=ROW\n\
             log-slave-updates=1\n\
             gtid-strict-mode=1\n\
             skip-name-resolve\n\
             user=root\n\
             read-only={ro}\n\
             slave-net-timeout=5\n\
             max-connections=500\n",
            data = dir.join("data").display(),
            socket = Self::socket(dir).display(),
            dir = dir.display(),
            ip = self.ip,
            id = self.server_id,
            ro = u8::from(self.read_only),
        );
        for option in LEAN {
            cnf.push_str(option);
            cnf.push('\n');
        }
        if let Some(files) = self.tls {
            cnf.push_str(&format!(
                "ssl-ca={}\nssl-cert={}\nssl-key={}\nrequire-secure-transport=ON\n",
                files.ca.display(),
                files.cert.display(),
                files.key.display()
            ));
        }
        cnf.push_str(&format!(
            "[client]\nuser=root\nsocket={}\n",
            Self::socket(dir).display()
        ));
        let path = Self::cnf(dir);
        std::fs::write(&path, cnf)
            .map_err(|e| Error::Process(format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Writes the configuration and starts `mariadbd` on it.
    pub(super) fn spawn(&self) -> Result<ServerProcess, Error> {
        let cnf = self.write()?;
        let mut command = Command::new(program("mariadbd"));
        command.arg(format!("--defaults-file={}", cnf.display()));
        ServerProcess::spawn("mariadbd", command)
            .map_err(|e| Error::Process(format!("{e} (install mariadb-server; scripts/test does)")))
    }
}

/// An admin connection (root, over the pod's Unix socket: TLS and network rules do not
/// apply, and it tests nothing).
pub(super) async fn admin(dir: &Path) -> Result<Conn, Error> {
    let socket = PodConfig::socket(dir);
    let opts = OptsBuilder::default()
        .socket(Some(socket.display().to_string()))
        .user(Some("root"));
    tokio::time::timeout(Duration::from_secs(5), Conn::new(opts))
        .await
        .map_err(|_| Error::Process(format!("mariadbd at {} does not answer", socket.display())))?
        .map_err(|e| Error::Process(format!("mariadbd at {}: {e}", socket.display())))
}

/// Waits until the pod's server accepts an admin connection.
pub(super) async fn wait_until_up(dir: &Path, timeout: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        match admin(dir).await {
            Ok(conn) => {
                let _ = conn.disconnect().await;
                return Ok(());
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!("not answering after {timeout:?}: {last}"))
}

/// Runs statements in order on an admin connection, saying which one failed.
pub(super) async fn run(conn: &mut Conn, statements: &[String]) -> Result<(), Error> {
    for statement in statements {
        conn.query_drop(statement)
            .await
            .map_err(|e| Error::Process(format!("`{statement}`: {e}")))?;
    }
    Ok(())
}

/// One value from a one-row query.
pub(super) async fn value<T: mysql_async::prelude::FromValue + Send + 'static>(
    conn: &mut Conn,
    query: &str,
) -> Result<Option<T>, Error> {
    conn.query_first::<T, _>(query)
        .await
        .map_err(|e| Error::Process(format!("`{query}`: {e}")))
}

/// Copies everything the server at `from` holds into the (fresh) server at `to`, as of
/// one consistent snapshot, and sets `to`'s replication position to that snapshot's GTID
/// (`mariadb-dump --single-transaction --gtid --master-data`). The restore is not
/// binlogged on `to`: its history is the source's.
pub(super) async fn clone_data(from: &Path, to: &Path) -> Result<(), Error> {
    let dump = tokio::process::Command::new(program("mariadb-dump"))
        .arg(format!("--socket={}", PodConfig::socket(from).display()))
        .args([
            "--user=root",
            "--all-databases",
            "--single-transaction",
            "--gtid",
            "--master-data=1",
            "--routines",
            "--events",
        ])
        .output()
        .await
        .map_err(|e| Error::Process(format!("running mariadb-dump: {e}")))?;
    if !dump.status.success() {
        return Err(Error::Process(format!(
            "mariadb-dump failed: {}",
            String::from_utf8_lossy(&dump.stderr).trim()
        )));
    }
    let mut restore = tokio::process::Command::new(program("mariadb"))
        .arg(format!("--socket={}", PodConfig::socket(to).display()))
        .arg("--user=root")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Process(format!("running mariadb: {e}")))?;
    if let Some(mut stdin) = restore.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let write = async {
            stdin.write_all(b"SET SESSION sql_log_bin = 0;\n").await?;
            stdin.write_all(&dump.stdout).await?;
            stdin.write_all(b"\nFLUSH PRIVILEGES;\n").await
        };
        write
            .await
            .map_err(|e| Error::Process(format!("restoring the clone: {e}")))?;
    }
    let restored = restore
        .wait_with_output()
        .await
        .map_err(|e| Error::Process(format!("restoring the clone: {e}")))?;
    if restored.status.success() {
        Ok(())
    } else {
        Err(Error::Process(format!(
            "restoring the clone failed: {}",
            String::from_utf8_lossy(&restored.stderr).trim()
        )))
    }
}
