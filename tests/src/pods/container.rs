//! One container: a process in the pod's network namespace with its own mount, UTS and PID
//! namespaces. Its root is an empty tmpfs holding read-only binds of the host's `/usr` (and
//! the merged-usr links), a private `/etc` with only what any image has (users, the
//! dynamic linker's cache, nsswitch) plus the pod's `hosts`, `hostname` and `resolv.conf`,
//! and the manifest's volume mounts. The host's `/etc/mysql`, `/etc/redis`, `/var/lib` and
//! home directories are not there, as they are not in an image.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use super::PodError;

/// Runs inside the new namespaces, before the container's command: builds the root and
/// `exec`s the command in it. Positional parameters: root, pod `/etc` files, hostname,
/// user (or empty), bind count, then (source, target, ro|rw) per bind, then the command.
const PRELUDE: &str = r#"set -eu
root=$1 etc=$2 name=$3 user=$4 binds=$5
shift 5
mount --make-rprivate /
mount -t tmpfs -o mode=0755 pod-root "$root"
for d in bin sbin lib lib32 lib64 libx32 usr; do
  if [ -L "/$d" ]; then
    cp -P "/$d" "$root/$d"
  elif [ -d "/$d" ]; then
    mkdir "$root/$d"
    mount --rbind "/$d" "$root/$d"
    mount -o remount,bind,ro "$root/$d"
  fi
done
mkdir -p "$root/etc" "$root/proc" "$root/dev" "$root/tmp" "$root/run" "$root/var/tmp"
chmod 1777 "$root/tmp" "$root/var/tmp"
ln -s ../run "$root/var/run"
for f in passwd group shadow nsswitch.conf host.conf ld.so.cache ld.so.conf ld.so.conf.d alternatives localtime; do
  if [ -e "/etc/$f" ]; then cp -a "/etc/$f" "$root/etc/"; fi
done
cp "$etc"/* "$root/etc/"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
while [ "$binds" -gt 0 ]; do
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
  shift 3
  binds=$((binds - 1))
done
hostname "$name"
if [ -n "$user" ]; then exec chroot --userspec="$user" "$root" "$@"; fi
exec chroot "$root" "$@"
"#;

/// A host directory mounted into the container.
#[derive(Debug, Clone)]
pub(crate) struct Bind {
    /// The host directory.
    pub(crate) source: PathBuf,
    /// Where the container sees it.
    pub(crate) target: String,
    /// Mounted read-only (ConfigMaps, Secrets).
    pub(crate) read_only: bool,
}

/// What to start.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The pod's network namespace.
    pub(crate) netns: String,
    /// The pod's hostname.
    pub(crate) hostname: String,
    /// An empty host directory the container's tmpfs root is mounted on (in its own mount
    /// namespace only).
    pub(crate) root: PathBuf,
    /// Files copied into the container's `/etc`: `hosts`, `hostname`, `resolv.conf`.
    pub(crate) etc: PathBuf,
    /// Volume mounts.
    pub(crate) binds: Vec<Bind>,
    /// `uid:gid` to run as (the image's `USER`), or root.
    pub(crate) user: Option<String>,
    /// The environment, exactly (nothing of the test process's own leaks in).
    pub(crate) env: Vec<(String, String)>,
    /// The command line.
    pub(crate) argv: Vec<String>,
    /// Where stdout and stderr go.
    pub(crate) log: PathBuf,
}

/// A running container; killed on drop (its PID namespace goes with its first process).
#[derive(Debug)]
pub(crate) struct Container {
    child: Child,
    handle: Handle,
}

/// A container just started: running, or done already.
#[derive(Debug)]
pub(crate) enum Started {
    /// Its command runs inside its root.
    Running(Box<Container>),
    /// It exited before the runner saw it run, with this status.
    Exited(std::process::ExitStatus),
}

/// What commands and signals reach a running container through: its first process, as the
/// host sees it, and its environment.
#[derive(Debug, Clone)]
pub struct Handle {
    pid: u32,
    env: Vec<(String, String)>,
}

impl Container {
    /// Starts the container and waits until its command runs inside its root, or until
    /// it has exited already (a quick init container, or a prelude that failed: its
    /// message is in the log).
    ///
    /// # Errors
    ///
    /// [`PodError::Container`] when the process cannot be started or its root does not
    /// appear within 10 s.
    pub(crate) async fn start(launch: &Launch) -> Result<Started, PodError> {
        let failed = |message: String| PodError::Container {
            pod: launch.hostname.clone(),
            message,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(|e| failed(format!("opening {}: {e}", launch.log.display())))?;
        let err = log
            .try_clone()
            .map_err(|e| failed(format!("{}: {e}", launch.log.display())))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &launch.netns])
            .args([
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["sh", "-c", PRELUDE, "prelude"])
            .arg(&launch.root)
            .arg(&launch.etc)
            .arg(&launch.hostname)
            .arg(launch.user.as_deref().unwrap_or_default())
            .arg(launch.binds.len().to_string());
        for bind in &launch.binds {
            command
                .arg(&bind.source)
                .arg(&bind.target)
                .arg(if bind.read_only { "ro" } else { "rw" });
        }
        command
            .args(&launch.argv)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| failed(format!("spawning ip netns exec: {e}")))?;
        match in_root(&mut child, &launch.log).await.map_err(failed)? {
            Ok(pid) => Ok(Started::Running(Box::new(Self {
                child,
                handle: Handle {
                    pid,
                    env: launch.env.clone(),
                },
            }))),
            Err(status) => Ok(Started::Exited(status)),
        }
    }

    /// How to reach it while it runs.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Waits for the container's process to exit.
    ///
    /// # Errors
    ///
    /// The error of `waitpid`.
    pub(crate) async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Stops the container as the kubelet does: SIGTERM to its first process, SIGKILL
    /// after `grace`.
    pub(crate) async fn stop(&mut self, grace: Duration) {
        let _ = self.handle.signal("TERM");
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl Drop for Container {
    // `unshare --kill-child` does not cover a container that changed user (the kernel
    // clears the parent-death signal on setuid), so kill its PID 1 directly: the whole
    // PID namespace goes with it.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.handle.signal("KILL");
        }
    }
}

impl Handle {
    /// Runs a command inside the container, as `kubectl exec` does (its namespaces, root
    /// and environment), killed after `timeout`.
    ///
    /// # Errors
    ///
    /// [`PodError::Exec`] when it cannot be started or outlives `timeout`.
    pub async fn exec(&self, argv: &[String], timeout: Duration) -> Result<Output, PodError> {
        let failed = |message: String| PodError::Exec {
            command: argv.join(" "),
            message,
        };
        let pid = self.pid.to_string();
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &pid, "-m", "-u", "-n", "-p", "-r", "-w", "--"])
            .args(argv)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(timeout, command.output()).await {
            Ok(output) => output.map_err(|e| failed(e.to_string())),
            Err(_) => Err(failed(format!("no answer within {timeout:?}"))),
        }
    }

    /// Sends a signal (`TERM`, `KILL`, `STOP`, `CONT`) to the container's first process.
    ///
    /// # Errors
    ///
    /// If `kill` refuses (the container is gone).
    pub fn signal(&self, name: &str) -> std::io::Result<()> {
        headless_discovery_testkit::signal(self.pid, name)
    }
}

/// The host PID of the spawned process's child (the container's PID 1), once its root is
/// no longer the host's: from then on `nsenter -r` lands inside the container. Or its exit
/// status, if it was done before that could be seen.
async fn in_root(
    outer: &mut Child,
    log: &Path,
) -> Result<Result<u32, std::process::ExitStatus>, String> {
    let id = outer.id().ok_or_else(|| "exited at once".to_owned())?;
    let children = format!("/proc/{id}/task/{id}/children");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let child = std::fs::read_to_string(&children).ok().and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u32>().ok())
        });
        if let Some(pid) = child {
            let root = std::fs::read_link(format!("/proc/{pid}/root"));
            if root.is_ok_and(|r| r != Path::new("/")) {
                return Ok(Ok(pid));
            }
        }
        // Reaped here, not looked up in /proc: an exited child stays there as a zombie.
        if let Ok(Some(status)) = outer.try_wait() {
            return Ok(Err(status));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "its root was not ready within 10 s; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
