//! One pod, as the kubelet runs it: its files (`hosts`, `resolv.conf`, volumes), its init
//! containers in order until each exits 0, then its containers, restarted with back-off
//! when they exit or fail liveness, and its probes. Its readiness goes to a callback (the
//! testkit DNS, for StatefulSet pods).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::PodError;
use super::container::{Bind, Container, Handle, Launch, Started};
use super::image::{PATH, image};
use super::manifest::{self, EnvSource, Manifests, PodTemplate, Probe, ProbeAction, Volume};
use super::network::PodNetwork;

/// The kubelet's `terminationGracePeriodSeconds` default.
const GRACE: Duration = Duration::from_secs(30);
/// Restart back-off: the kubelet starts at 10 s and doubles to 5 min. Shorter here so that
/// a test sees a crash loop within its deadline; the loop itself is the same.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// A container that ran this long before exiting restarts without back-off.
const BACKOFF_RESET: Duration = Duration::from_secs(10);

/// What every pod of one runner shares.
#[derive(Debug)]
pub(crate) struct Site {
    pub(crate) namespace: String,
    pub(crate) domain: String,
    pub(crate) dns: Ipv4Addr,
    pub(crate) api: ApiAccess,
    pub(crate) manifests: Manifests,
    pub(crate) examples: PathBuf,
    pub(crate) work: PathBuf,
}

impl Site {
    /// The DNS name of pod `pod` under headless Service `service`.
    pub(crate) fn fqdn(&self, pod: &str, service: &str) -> String {
        format!("{pod}.{service}.{}.svc.{}", self.namespace, self.domain)
    }
}

/// How pods reach the API server, as kubelet tells them: `KUBERNETES_SERVICE_HOST` and
/// `_PORT`, and the service-account token and CA files.
#[derive(Debug)]
pub(crate) struct ApiAccess {
    pub(crate) host: Ipv4Addr,
    pub(crate) port: u16,
    /// The token of a service account the manifests' RBAC lets read EndpointSlices.
    pub(crate) token: String,
    /// The token of any other account: authenticated, and refused (403).
    pub(crate) forbidden: String,
    pub(crate) ca_pem: String,
}

/// Who the pod is.
pub(crate) struct Identity {
    /// `metadata.name`.
    pub(crate) name: String,
    /// `spec.subdomain` (the StatefulSet's Service), for the pod's FQDN.
    pub(crate) subdomain: Option<String>,
    /// Volume claims: volume name → persistent host directory.
    pub(crate) claims: BTreeMap<String, PathBuf>,
    /// Called with the pod's readiness each time it changes.
    pub(crate) on_ready: Box<dyn Fn(bool) + Send + Sync>,
}

/// A running pod; deleted (containers stopped, namespace removed) on drop.
pub struct Pod {
    name: String,
    network: PodNetwork,
    dir: PathBuf,
    handles: BTreeMap<String, watch::Receiver<Option<Handle>>>,
    ready: watch::Receiver<bool>,
    exited: watch::Receiver<Option<i32>>,
    shutdown: watch::Sender<Option<Duration>>,
    supervisor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Pod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pod")
            .field("name", &self.name)
            .field("ip", &self.network.address())
            .finish_non_exhaustive()
    }
}

/// A container's plan: the launch and its probes.
struct Planned {
    name: String,
    launch: Launch,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    ports: BTreeMap<String, u16>,
}

impl Pod {
    /// Writes the pod's files and starts its supervisor: init containers, then containers.
    ///
    /// # Errors
    ///
    /// [`PodError`] when the template cannot be run (unknown image, volume or Secret) or
    /// a file cannot be written.
    pub(crate) fn start(
        site: &Arc<Site>,
        identity: Identity,
        template: &PodTemplate,
        network: PodNetwork,
        restart: bool,
    ) -> Result<Self, PodError> {
        let dir = site
            .work
            .join(format!("{}-{}", identity.name, network.netns()));
        let (init, containers) = plan(site, &identity, template, &network, &dir)?;
        let (shutdown, stop) = watch::channel(None);
        let (ready_tx, ready) = watch::channel(false);
        let (exited_tx, exited) = watch::channel(None);
        let mut handles = BTreeMap::new();
        let mut senders = Vec::new();
        for planned in &containers {
            let (tx, rx) = watch::channel(None);
            handles.insert(planned.name.clone(), rx);
            senders.push(tx);
        }
        let readiness = Readiness::new(containers.len(), identity.on_ready, ready_tx);
        let supervisor = tokio::spawn(supervise(
            init,
            containers,
            senders,
            readiness,
            stop,
            exited_tx,
            network.address(),
            restart,
        ));
        Ok(Self {
            name: identity.name,
            network,
            dir,
            handles,
            ready,
            exited,
            shutdown,
            supervisor: Some(supervisor),
        })
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Something to wait on for the pod to be Ready, without holding the pod.
    pub fn readiness(&self) -> ReadyWait {
        ReadyWait {
            ready: self.ready.clone(),
            exited: self.exited.clone(),
            name: self.name.clone(),
            dir: self.dir.clone(),
        }
    }

    /// The last `lines` lines of each container's log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.dir, lines)
    }

    /// The whole log of one container (init containers included).
    pub fn log(&self, container: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{container}.log"))).unwrap_or_default()
    }

    /// The running container's handle, for signals.
    pub fn handle(&self, container: &str) -> Option<Handle> {
        self.handles.get(container).and_then(|h| h.borrow().clone())
    }

    /// Deletes the pod as the API server does: every container gets SIGTERM, then SIGKILL
    /// after `grace`; then the network namespace goes.
    pub async fn delete(mut self, grace: Duration) {
        let _ = self.shutdown.send(Some(grace));
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
    }
}

/// Waits for a pod's readiness or exit; see [`Pod::readiness`].
#[derive(Debug)]
pub struct ReadyWait {
    ready: watch::Receiver<bool>,
    exited: watch::Receiver<Option<i32>>,
    name: String,
    dir: PathBuf,
}

impl ReadyWait {
    /// Waits until the pod is Ready.
    ///
    /// # Errors
    ///
    /// [`PodError::NotReady`] after `deadline`, with its containers' log tails.
    pub async fn ready(mut self, deadline: Duration) -> Result<(), PodError> {
        let ready = tokio::time::timeout(deadline, self.ready.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok());
        if ready {
            Ok(())
        } else {
            Err(self.late(deadline))
        }
    }

    /// Waits until the pod's container exits (a Job's pod, `restartPolicy: Never`): its
    /// exit code, -1 for a signal.
    ///
    /// # Errors
    ///
    /// [`PodError::NotReady`] after `deadline`.
    pub async fn exit(mut self, deadline: Duration) -> Result<i32, PodError> {
        let code = match tokio::time::timeout(deadline, self.exited.wait_for(Option::is_some)).await
        {
            Ok(Ok(code)) => Some(code.unwrap_or(-1)),
            _ => None,
        };
        code.ok_or_else(|| self.late(deadline))
    }

    fn late(&self, waited: Duration) -> PodError {
        PodError::NotReady {
            pod: self.name.clone(),
            waited,
            log: log_tail(&self.dir, 30),
        }
    }
}

/// The last `lines` lines of each container log in `dir`.
fn log_tail(dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut logs: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        out.push_str(&format!("--- {}\n", log.display()));
        for line in &all[all.len().saturating_sub(lines)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
        }
    }
}

/// The init containers' and containers' launches.
fn plan(
    site: &Site,
    identity: &Identity,
    template: &PodTemplate,
    network: &PodNetwork,
    dir: &Path,
) -> Result<(Vec<Planned>, Vec<Planned>), PodError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PodError::Io { path, source }
    };
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).map_err(io(&etc))?;
    let ip = network.address();
    let fqdn = match &identity.subdomain {
        Some(service) => site.fqdn(&identity.name, service),
        None => identity.name.clone(),
    };
    let short = &identity.name;
    let files = [
        ("hostname", format!("{short}\n")),
        (
            "hosts",
            format!(
                "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{fqdn}\t{short}\n"
            ),
        ),
        (
            "resolv.conf",
            format!(
                "search {ns}.svc.{d} svc.{d} {d}\nnameserver {dns}\noptions ndots:5\n",
                ns = site.namespace,
                d = site.domain,
                dns = site.dns
            ),
        ),
    ];
    for (name, text) in files {
        let path = etc.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    let account = dir.join("serviceaccount");
    std::fs::create_dir_all(&account).map_err(io(&account))?;
    let token = if site
        .manifests
        .may_read_endpointslices(&template.service_account)
    {
        &site.api.token
    } else {
        &site.api.forbidden
    };
    for (name, text) in [
        ("namespace", site.namespace.as_str()),
        ("token", token.as_str()),
        ("ca.crt", site.api.ca_pem.as_str()),
    ] {
        let file = account.join(name);
        std::fs::write(&file, text).map_err(io(&file))?;
    }

    let mut volumes: BTreeMap<String, (PathBuf, bool)> = BTreeMap::new();
    for (name, path) in &identity.claims {
        std::fs::create_dir_all(path).map_err(io(path))?;
        volumes.insert(name.clone(), (path.clone(), false));
    }
    for (name, volume) in &template.volumes {
        let path = dir.join("volumes").join(name);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        let keys = match volume {
            Volume::EmptyDir => None,
            Volume::ConfigMap(map) => Some(site.manifests.config_maps.get(map)),
            Volume::Secret(secret) => Some(site.manifests.secrets.get(secret)),
        };
        if let Some(keys) = keys {
            let keys = keys.ok_or_else(|| missing(&identity.name, &format!("volume {name}")))?;
            for (key, text) in keys {
                let file = path.join(key);
                std::fs::write(&file, text).map_err(io(&file))?;
            }
        }
        volumes.insert(name.clone(), (path, !matches!(volume, Volume::EmptyDir)));
    }

    let containers = |list: &[manifest::Container], kind: &str| -> Result<Vec<Planned>, PodError> {
        list.iter()
            .enumerate()
            .map(|(index, c)| {
                let image = image(&c.image, &site.examples)?;
                let argv = if c.command.is_empty() && image.empty_entrypoint {
                    c.args.clone()
                } else if c.command.is_empty() {
                    return Err(PodError::Manifest(manifest::ManifestError::Field {
                        object: format!("pod {} container {}", identity.name, c.name),
                        field: "command".into(),
                        problem: format!(
                            "is missing: {} has an entry point, which the runner does not run; the manifest must say what runs",
                            c.image
                        ),
                    }));
                } else {
                    c.command.iter().chain(&c.args).cloned().collect()
                };
                let mut env = vec![
                    ("PATH".to_owned(), PATH.to_owned()),
                    ("HOSTNAME".to_owned(), identity.name.clone()),
                    ("KUBERNETES_SERVICE_HOST".to_owned(), site.api.host.to_string()),
                    ("KUBERNETES_SERVICE_PORT".to_owned(), site.api.port.to_string()),
                ];
                for (key, source) in &c.env {
                    env.push((key.clone(), env_value(site, identity, ip, source)?));
                }
                let mut binds = vec![Bind {
                    source: account.clone(),
                    target: "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                    read_only: true,
                }];
                if let Some(bin) = &image.binaries {
                    binds.push(Bind {
                        source: bin.clone(),
                        target: "/usr/local/bin".into(),
                        read_only: true,
                    });
                }
                for mount in &c.mounts {
                    let (source, read_only) = volumes
                        .get(&mount.volume)
                        .ok_or_else(|| missing(&identity.name, &format!("volume {}", mount.volume)))?;
                    binds.push(Bind {
                        source: source.clone(),
                        target: mount.path.clone(),
                        read_only: *read_only,
                    });
                }
                let root = dir.join(format!("root-{kind}{index}"));
                std::fs::create_dir_all(&root).map_err(io(&root))?;
                Ok(Planned {
                    name: c.name.clone(),
                    launch: Launch {
                        netns: network.netns().to_owned(),
                        hostname: identity.name.clone(),
                        root,
                        etc: etc.clone(),
                        binds,
                        user: image.user.clone(),
                        env,
                        argv,
                        log: dir.join(format!("{}.log", c.name)),
                    },
                    readiness: c.readiness.clone(),
                    liveness: c.liveness.clone(),
                    ports: c.ports.clone(),
                })
            })
            .collect()
    };
    Ok((
        containers(&template.init_containers, "init")?,
        containers(&template.containers, "")?,
    ))
}

fn missing(pod: &str, what: &str) -> PodError {
    PodError::Manifest(manifest::ManifestError::Field {
        object: format!("pod {pod}"),
        field: what.to_owned(),
        problem: "names something no manifest defines".into(),
    })
}

fn env_value(
    site: &Site,
    identity: &Identity,
    ip: Ipv4Addr,
    source: &EnvSource,
) -> Result<String, PodError> {
    match source {
        EnvSource::Value(value) => Ok(value.clone()),
        EnvSource::Field(path) => match path.as_str() {
            "metadata.name" => Ok(identity.name.clone()),
            "metadata.namespace" => Ok(site.namespace.clone()),
            "status.podIP" => Ok(ip.to_string()),
            other => Err(missing(&identity.name, &format!("fieldRef {other}"))),
        },
        EnvSource::Secret { name, key } => site
            .manifests
            .secrets
            .get(name)
            .and_then(|s| s.get(key))
            .cloned()
            .ok_or_else(|| missing(&identity.name, &format!("secretKeyRef {name}/{key}"))),
    }
}

/// Each container's readiness, and the pod's: all of them.
struct Readiness {
    containers: Mutex<Vec<bool>>,
    on_ready: Box<dyn Fn(bool) + Send + Sync>,
    pod: watch::Sender<bool>,
}

impl Readiness {
    fn new(
        count: usize,
        on_ready: Box<dyn Fn(bool) + Send + Sync>,
        pod: watch::Sender<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            containers: Mutex::new(vec![false; count]),
            on_ready,
            pod,
        })
    }

    fn set(&self, index: usize, ready: bool) {
        let mut containers = self
            .containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = containers.get_mut(index) {
            *slot = ready;
        }
        let pod = containers.iter().all(|r| *r);
        if *self.pod.borrow() != pod {
            (self.on_ready)(pod);
            let _ = self.pod.send(pod);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn supervise(
    init: Vec<Planned>,
    containers: Vec<Planned>,
    handles: Vec<watch::Sender<Option<Handle>>>,
    readiness: Arc<Readiness>,
    stop: watch::Receiver<Option<Duration>>,
    exited: watch::Sender<Option<i32>>,
    ip: Ipv4Addr,
    restart: bool,
) {
    for planned in &init {
        let mut backoff = Backoff::default();
        loop {
            let Some(code) = run_once(planned, None, &readiness, 0, &stop, ip).await else {
                return;
            };
            if code == 0 {
                break;
            }
            if !backoff.wait(&stop).await {
                return;
            }
        }
    }
    let runs = containers
        .into_iter()
        .zip(handles)
        .enumerate()
        .map(|(index, (planned, handle))| {
            let readiness = Arc::clone(&readiness);
            let stop = stop.clone();
            let exited = exited.clone();
            async move {
                let mut backoff = Backoff::default();
                loop {
                    let started = tokio::time::Instant::now();
                    let Some(code) =
                        run_once(&planned, Some(&handle), &readiness, index, &stop, ip).await
                    else {
                        return;
                    };
                    if !restart {
                        let _ = exited.send(Some(code));
                        return;
                    }
                    if started.elapsed() > BACKOFF_RESET {
                        backoff = Backoff::default();
                    }
                    if !backoff.wait(&stop).await {
                        return;
                    }
                }
            }
        });
    futures::future::join_all(runs).await;
}

/// Runs a container once: until it exits (its code; -1 for a signal), fails liveness
/// (it is stopped: -1), or the pod is deleted (`None`).
async fn run_once(
    planned: &Planned,
    handle: Option<&watch::Sender<Option<Handle>>>,
    readiness: &Arc<Readiness>,
    index: usize,
    stop: &watch::Receiver<Option<Duration>>,
    ip: Ipv4Addr,
) -> Option<i32> {
    let mut stop = stop.clone();
    if stop.borrow().is_some() {
        return None;
    }
    let mut container = match Container::start(&planned.launch).await {
        Ok(Started::Running(container)) => container,
        Ok(Started::Exited(status)) => return Some(exited(planned, status)),
        Err(error) => {
            append(&planned.launch.log, &format!("[runner] {error}"));
            return Some(-1);
        }
    };
    if let Some(handle) = handle {
        let _ = handle.send(Some(container.handle().clone()));
    }
    let dead = Arc::new(Notify::new());
    let mut probes = Vec::new();
    match &planned.readiness {
        Some(probe) if handle.is_some() => {
            let readiness = Arc::clone(readiness);
            probes.push(tokio::spawn(probing(
                probe.clone(),
                container.handle().clone(),
                target(&planned.ports, ip),
                move |ok| {
                    readiness.set(index, ok);
                    true
                },
            )));
        }
        _ if handle.is_some() => readiness.set(index, true),
        _ => {}
    }
    if let Some(probe) = &planned.liveness {
        let dead = Arc::clone(&dead);
        let log = planned.launch.log.clone();
        probes.push(tokio::spawn(probing(
            probe.clone(),
            container.handle().clone(),
            target(&planned.ports, ip),
            move |ok| {
                if !ok {
                    append(
                        &log,
                        "[runner] liveness probe failed: restarting the container",
                    );
                    dead.notify_one();
                }
                ok
            },
        )));
    }
    let code = tokio::select! {
        status = container.wait() => match status {
            Ok(status) => exited(planned, status),
            Err(_) => -1,
        },
        () = dead.notified() => {
            container.stop(GRACE).await;
            -1
        }
        grace = async { stop.wait_for(Option::is_some).await.ok().and_then(|g| *g) } => {
            container.stop(grace.unwrap_or(GRACE)).await;
            probes.iter().for_each(JoinHandle::abort);
            if handle.is_some() {
                readiness.set(index, false);
            }
            return None;
        }
    };
    probes.iter().for_each(JoinHandle::abort);
    if let Some(handle) = handle {
        readiness.set(index, false);
        let _ = handle.send(None);
    }
    Some(code)
}

/// Logs a container's exit; its code, -1 for a signal.
fn exited(planned: &Planned, status: std::process::ExitStatus) -> i32 {
    let code = status.code().unwrap_or(-1);
    append(
        &planned.launch.log,
        &format!("[runner] container {} exited with {code}", planned.name),
    );
    code
}

/// A probe's TCP target: the pod IP and a container port, named or numbered.
fn target(
    ports: &BTreeMap<String, u16>,
    ip: Ipv4Addr,
) -> impl Fn(&str) -> Option<SocketAddr> + use<> {
    let ports = ports.clone();
    move |port: &str| {
        let port = ports.get(port).copied().or_else(|| port.parse().ok())?;
        Some(SocketAddr::new(IpAddr::V4(ip), port))
    }
}

/// Runs `probe` every period after its initial delay; `on` gets `true` on a success and
/// `false` once `failureThreshold` attempts in a row failed; probing stops when `on`
/// returns `false`.
async fn probing(
    probe: Probe,
    handle: Handle,
    target: impl Fn(&str) -> Option<SocketAddr>,
    on: impl Fn(bool) -> bool,
) {
    tokio::time::sleep(probe.initial_delay).await;
    let mut failures = 0;
    loop {
        let attempt = async {
            match &probe.action {
                ProbeAction::Exec(argv) => handle
                    .exec(argv, probe.timeout)
                    .await
                    .is_ok_and(|out| out.status.success()),
                ProbeAction::Tcp(port) => match target(port) {
                    Some(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
                    None => false,
                },
            }
        };
        let ok = tokio::time::timeout(probe.timeout, attempt)
            .await
            .unwrap_or(false);
        failures = if ok { 0 } else { failures + 1 };
        if (ok || failures >= probe.failure_threshold) && !on(ok) {
            return;
        }
        tokio::time::sleep(probe.period).await;
    }
}

/// The restart back-off of one container.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(BACKOFF_FIRST)
    }
}

impl Backoff {
    /// Sleeps the current back-off and doubles it; `false` if the pod is deleted meanwhile.
    async fn wait(&mut self, stop: &watch::Receiver<Option<Duration>>) -> bool {
        let mut stop = stop.clone();
        let wait = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            _ = async { stop.wait_for(Option::is_some).await.is_ok() } => false,
        }
    }
}

fn append(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(file, "{line}");
    }
}
