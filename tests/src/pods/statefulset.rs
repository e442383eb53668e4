//! A StatefulSet's pods as its controller runs them: stable names and volume claims,
//! one pod at a time in ordinal order (`OrderedReady`), a deleted pod created again with
//! the same name and claims (and a new IP), and its DNS records following readiness.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::PodError;
use super::container::Handle;
use super::manifest::StatefulSet;
use super::network::Bridge;
use super::pod::{Identity, Pod, Site};

/// A StatefulSet whose pods run; every pod is deleted on drop.
#[derive(Debug)]
pub struct RunningSet {
    site: Arc<Site>,
    bridge: Arc<Bridge>,
    spec: StatefulSet,
    dns: headless_discovery_testkit::StatefulSet,
    pods: Mutex<BTreeMap<u32, Pod>>,
}

impl RunningSet {
    pub(crate) fn new(
        site: Arc<Site>,
        bridge: Arc<Bridge>,
        spec: StatefulSet,
        dns: headless_discovery_testkit::StatefulSet,
    ) -> Self {
        Self {
            site,
            bridge,
            spec,
            dns,
            pods: Mutex::new(BTreeMap::new()),
        }
    }

    /// Creates the pods as the controller does: in ordinal order, each once the one before
    /// is Ready (or all at once under `podManagementPolicy: Parallel`).
    ///
    /// # Errors
    ///
    /// [`PodError::NotReady`] naming the first pod not Ready within `deadline`.
    pub(crate) async fn roll_out(&self, deadline: Duration) -> Result<(), PodError> {
        for ordinal in 0..self.spec.replicas {
            self.create(ordinal)?;
            if !self.spec.parallel {
                self.wait_ready(ordinal, deadline).await?;
            }
        }
        if self.spec.parallel {
            for ordinal in 0..self.spec.replicas {
                self.wait_ready(ordinal, deadline).await?;
            }
        }
        Ok(())
    }

    /// How many pods it has.
    pub fn replicas(&self) -> u32 {
        self.spec.replicas
    }

    /// A pod's FQDN, `<set>-<o>.<service>.<namespace>.svc.<domain>`.
    pub fn fqdn(&self, ordinal: u32) -> String {
        self.site
            .fqdn(&format!("{}-{ordinal}", self.spec.name), &self.spec.service)
    }

    fn create(&self, ordinal: u32) -> Result<(), PodError> {
        let name = format!("{}-{ordinal}", self.spec.name);
        let network = self.bridge.attach()?;
        self.dns.set_ready(ordinal, false)?;
        self.dns
            .set_pod_ip(ordinal, std::net::IpAddr::V4(network.address()))?;
        let claims = self
            .spec
            .claims
            .iter()
            .map(|claim| {
                (
                    claim.clone(),
                    self.site
                        .work
                        .join("claims")
                        .join(format!("{claim}-{name}")),
                )
            })
            .collect();
        let dns = self.dns.clone();
        let identity = Identity {
            name: name.clone(),
            subdomain: Some(self.spec.service.clone()),
            claims,
            on_ready: Box::new(move |ready| {
                let _ = dns.set_ready(ordinal, ready);
            }),
        };
        let pod = Pod::start(&self.site, identity, &self.spec.template, network, true)?;
        self.lock().insert(ordinal, pod);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Pod>> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until pod `ordinal` is Ready.
    ///
    /// # Errors
    ///
    /// [`PodError::NotReady`] after `deadline`, with its log tails.
    pub async fn wait_ready(&self, ordinal: u32, deadline: Duration) -> Result<(), PodError> {
        let wait = self
            .lock()
            .get(&ordinal)
            .map(Pod::readiness)
            .ok_or_else(|| self.no_pod(ordinal))?;
        wait.ready(deadline).await
    }

    fn no_pod(&self, ordinal: u32) -> PodError {
        PodError::Container {
            pod: format!("{}-{ordinal}", self.spec.name),
            message: "does not exist".into(),
        }
    }

    /// The handle of pod `ordinal`'s first container, while it runs.
    pub fn handle(&self, ordinal: u32) -> Option<Handle> {
        let container = self.spec.template.containers.first()?.name.clone();
        self.lock().get(&ordinal)?.handle(&container)
    }

    /// Runs a command in pod `ordinal`'s first container, as `kubectl exec` does.
    ///
    /// # Errors
    ///
    /// [`PodError::Exec`] when the container is not running or the command cannot run
    /// (a non-zero exit is in the output's status).
    pub async fn exec(
        &self,
        ordinal: u32,
        argv: &[&str],
    ) -> Result<std::process::Output, PodError> {
        let argv: Vec<String> = argv.iter().map(|&a| a.to_owned()).collect();
        let handle = self.handle(ordinal).ok_or_else(|| PodError::Exec {
            command: argv.join(" "),
            message: format!("{}-{ordinal} has no running container", self.spec.name),
        })?;
        handle.exec(&argv, Duration::from_secs(60)).await
    }

    /// Like [`exec`](Self::exec), but only the standard output, and an error for a
    /// non-zero exit.
    ///
    /// # Errors
    ///
    /// [`PodError::Exec`] with the command's standard error.
    pub async fn exec_ok(&self, ordinal: u32, argv: &[&str]) -> Result<String, PodError> {
        let output = self.exec(ordinal, argv).await?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(PodError::Exec {
                command: argv.join(" "),
                message: format!(
                    "{} on {}-{ordinal}: {}",
                    output.status,
                    self.spec.name,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            })
        }
    }

    /// Every container log of pod `ordinal`, tails only.
    pub fn log_tail(&self, ordinal: u32, lines: usize) -> String {
        self.lock()
            .get(&ordinal)
            .map(|p| p.log_tail(lines))
            .unwrap_or_default()
    }

    /// Deletes pod `ordinal` as `kubectl delete pod` does (out of the DNS at once, SIGTERM,
    /// SIGKILL after `grace`), and the controller creates it again: same name and
    /// claims, a new IP, init containers run again. Returns once the new pod is created,
    /// not Ready.
    ///
    /// # Errors
    ///
    /// [`PodError`] when the new pod cannot be created.
    pub async fn delete_pod(&self, ordinal: u32, grace: Duration) -> Result<(), PodError> {
        let old = self.lock().remove(&ordinal);
        self.dns.set_ready(ordinal, false)?;
        if let Some(old) = old {
            old.delete(grace).await;
        }
        self.create(ordinal)
    }

    /// A rolling restart, as a StatefulSet update does: from the highest ordinal down,
    /// each pod deleted and created again, the next one only once it is Ready.
    ///
    /// # Errors
    ///
    /// [`PodError::NotReady`] naming the first pod not Ready within `deadline`.
    pub async fn rolling_restart(
        &self,
        grace: Duration,
        deadline: Duration,
    ) -> Result<(), PodError> {
        for ordinal in (0..self.spec.replicas).rev() {
            self.delete_pod(ordinal, grace).await?;
            self.wait_ready(ordinal, deadline).await?;
        }
        Ok(())
    }

    /// Every pod down at once (a node or zone outage), then the controller brings them
    /// back as after any outage: in ordinal order, each once the one before is Ready.
    ///
    /// # Errors
    ///
    /// [`PodError::NotReady`] naming the first pod not Ready within `deadline`.
    pub async fn restart_all(&self, grace: Duration, deadline: Duration) -> Result<(), PodError> {
        let old: Vec<Pod> = std::mem::take(&mut *self.lock()).into_values().collect();
        self.dns.set_all_ready(false)?;
        futures::future::join_all(old.into_iter().map(|pod| pod.delete(grace))).await;
        self.roll_out(deadline).await
    }
}
