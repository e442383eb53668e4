//! Server processes that end with the test: killed on drop, also when a test panics.

use std::io;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a server program is: on the `PATH`, or in the sbin/bin directories Debian
/// installs servers to (`mariadbd` lives in /usr/sbin, which a user's `PATH` may lack).
#[cfg(any(feature = "redis", feature = "mysql"))]
pub(crate) fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
                .map(std::path::PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A child process the testkit started. Dropping it kills it (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    name: String,
    /// Set between SIGSTOP and SIGCONT: a frozen pod cannot be asked or told anything.
    frozen: AtomicBool,
}

impl ServerProcess {
    /// Starts `command` with its output discarded (servers here log to files).
    ///
    /// # Errors
    ///
    /// The spawn error, naming the program.
    pub fn spawn(name: &str, mut command: Command) -> io::Result<Self> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {name}: {e}")))?;
        Ok(Self {
            child,
            name: name.to_owned(),
            frozen: AtomicBool::new(false),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Freezes it (SIGSTOP): it keeps its sockets but answers nothing.
    ///
    /// # Errors
    ///
    /// If the signal could not be sent.
    pub fn freeze(&self) -> io::Result<()> {
        self.signal("STOP")?;
        self.frozen.store(true, Ordering::SeqCst);
        // kill(2) returns before every thread has stopped: a thread inside a system call
        // stops only when it leaves it, so a reply could still go out after this returned.
        // Wait (briefly) until Linux reports each thread stopped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while !all_threads_stopped(self.child.id()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    }

    /// Whether it is frozen (SIGSTOP sent, SIGCONT not yet).
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// Lets a frozen process run again (SIGCONT).
    ///
    /// # Errors
    ///
    /// If the signal could not be sent.
    pub fn thaw(&self) -> io::Result<()> {
        self.signal("CONT")?;
        self.frozen.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Kills it at once (SIGKILL), as a node failure or OOM kill would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) -> io::Result<()> {
        self::signal(self.child.id(), signal)
            .map_err(|e| io::Error::other(format!("{e} ({})", self.name)))
    }
}

/// Sends `signal` (`STOP`, `CONT`, `TERM`, `KILL`, ...) to process `pid` with `kill(1)`,
/// for processes the testkit did not start itself (a pod runner's containers).
///
/// # Errors
///
/// If `kill` cannot run or refuses (no such process, no permission).
pub fn signal(pid: u32, signal: &str) -> io::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("kill -{signal} {pid} failed")))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGKILL ends a frozen process too; CONT first only so that nothing is left stopped
        // if the kill were ever refused.
        if self.is_running() {
            let _ = self.signal("CONT");
        }
        self.kill();
    }
}

/// Whether every thread of process `pid` is stopped (state `T` in
/// `/proc/<pid>/task/<tid>/stat`). Where that cannot be read (not Linux), it answers yes:
/// there is nothing to wait on.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses and may hold spaces.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        matches!(state, None | Some('T' | 't' | 'Z' | 'X'))
    })
}
