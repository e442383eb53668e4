//! The example manifests' own scripts, run on the testkit's pods: a planned switchover in
//! the testkit is the one `examples/k8s` ships to Kubernetes, not a copy of its steps.
//! The manifests are compiled in (`k8s/` links to `examples/k8s/`), and each script is
//! read out of its ConfigMap and run with `sh`, the servers' own command-line clients and
//! the environment the script documents for pods that have no cluster DNS.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;
use yaml_rust2::YamlLoader;

use crate::Error;

/// A script is stopped, and fails, if it has not finished by then.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// `examples/k8s/redis.yaml`, as shipped.
#[cfg(feature = "redis")]
const REDIS_MANIFEST: &str = include_str!("../k8s/redis.yaml");
/// `examples/k8s/mysql.yaml`, as shipped.
#[cfg(feature = "mysql")]
const MYSQL_MANIFEST: &str = include_str!("../k8s/mysql.yaml");

/// One script of a shipped ConfigMap.
#[derive(Debug)]
pub(crate) struct Script {
    /// `<manifest>:<key>`, for errors and as the script's `$0`.
    name: String,
    text: String,
}

impl Script {
    /// `switchover.sh` of the `redis` ConfigMap: the whole planned switchover, run for the
    /// candidate. Read out of the manifest once.
    #[cfg(feature = "redis")]
    pub(crate) fn redis_switchover() -> Result<&'static Self, Error> {
        static SCRIPT: OnceLock<Result<Script, String>> = OnceLock::new();
        Self::once(
            &SCRIPT,
            "redis.yaml",
            REDIS_MANIFEST,
            "redis",
            "switchover.sh",
        )
    }

    /// `mysql.sh` of the `mysql` ConfigMap: its switchover steps (`freeze`, `catch-up`,
    /// `promote`, `follow`) each run for one pod. Read out of the manifest once.
    #[cfg(feature = "mysql")]
    pub(crate) fn mysql() -> Result<&'static Self, Error> {
        static SCRIPT: OnceLock<Result<Script, String>> = OnceLock::new();
        Self::once(&SCRIPT, "mysql.yaml", MYSQL_MANIFEST, "mysql", "mysql.sh")
    }

    /// [`from_config_map`](Self::from_config_map), parsed on the first call only: a
    /// promotion runs several steps of one script.
    fn once(
        cell: &'static OnceLock<Result<Script, String>>,
        file: &str,
        manifest: &str,
        config_map: &str,
        key: &str,
    ) -> Result<&'static Self, Error> {
        cell.get_or_init(|| {
            Self::from_config_map(file, manifest, config_map, key).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Spec(e.clone()))
    }

    /// Key `key` of ConfigMap `config_map` in `manifest` (a multi-document YAML file).
    fn from_config_map(
        file: &str,
        manifest: &str,
        config_map: &str,
        key: &str,
    ) -> Result<Self, Error> {
        let name = format!("{file}:{key}");
        let documents = YamlLoader::load_from_str(manifest)
            .map_err(|e| Error::Spec(format!("{file} does not parse: {e}")))?;
        let text = documents
            .iter()
            .filter(|doc| doc["kind"].as_str() == Some("ConfigMap"))
            .find(|doc| doc["metadata"]["name"].as_str() == Some(config_map))
            .and_then(|doc| doc["data"][key].as_str())
            .ok_or_else(|| {
                Error::Spec(format!(
                    "{file} has no ConfigMap `{config_map}` with key `{key}`"
                ))
            })?
            .to_owned();
        Ok(Self { name, text })
    }

    /// Runs the script with `args` and `env` on top of this process's environment, and
    /// returns what it printed on stdout.
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if `sh` cannot start, the script exits non-zero (with its
    /// stderr) or it runs past [`SCRIPT_TIMEOUT`] (it is killed).
    pub(crate) async fn run(&self, args: &[&str], env: &[(&str, String)]) -> Result<String, Error> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.text)
            .arg(&self.name)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
            .await
            .map_err(|_| {
                Error::Process(format!(
                    "{} {args:?} did not finish within {SCRIPT_TIMEOUT:?}",
                    self.name
                ))
            })?
            .map_err(|e| Error::Process(format!("starting sh for {}: {e}", self.name)))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        Err(Error::Process(format!(
            "{} {args:?} failed ({}); stdout: {}; stderr: {}",
            self.name,
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::Script;

    #[test]
    #[cfg(feature = "redis")]
    fn the_redis_switchover_comes_from_the_shipped_config_map() {
        let script = Script::redis_switchover().expect("the manifest has it");
        assert!(script.text.starts_with("#!/bin/sh\n"), "{}", script.text);
        assert!(script.text.contains("client pause"), "{}", script.text);
    }

    #[test]
    #[cfg(feature = "mysql")]
    fn the_mysql_steps_come_from_the_shipped_config_map() {
        let script = Script::mysql().expect("the manifest has it");
        for step in ["freeze)", "catch-up)", "promote)", "follow)"] {
            assert!(script.text.contains(step), "no {step} in {}", script.text);
        }
    }

    #[test]
    fn a_missing_key_is_named() {
        let manifest = "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a.sh: echo\n";
        let error = Script::from_config_map("x.yaml", manifest, "x", "b.sh")
            .expect_err("no such key")
            .to_string();
        assert!(error.contains("`b.sh`"), "{error}");
    }
}
