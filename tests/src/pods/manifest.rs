//! The parts of `examples/k8s/*.yaml` the pod runner acts on, parsed with a YAML library:
//! StatefulSets and their pod templates, ConfigMaps, Secrets, Jobs, and the RBAC that
//! decides whether a pod's service account may read EndpointSlices.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use yaml_rust2::{Yaml, YamlLoader};

/// Every object of the manifests the runner uses, by name.
#[derive(Debug, Default)]
pub struct Manifests {
    /// StatefulSets, in file order.
    pub statefulsets: Vec<StatefulSet>,
    /// ConfigMaps: name → key → text.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secrets (`stringData`): name → key → value.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// Jobs: name → their pod template.
    pub jobs: BTreeMap<String, PodTemplate>,
    /// Services: name → their named ports.
    pub services: BTreeMap<String, Vec<(String, u16)>>,
    /// ServiceAccounts by name.
    pub service_accounts: Vec<String>,
    /// Roles: name → their rules.
    pub roles: BTreeMap<String, Vec<Rule>>,
    /// RoleBindings: (Role, ServiceAccount) pairs.
    pub bindings: Vec<(String, String)>,
}

/// One RBAC rule.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`.
    pub resources: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
}

impl Rule {
    fn allows(&self, group: &str, resource: &str, verb: &str) -> bool {
        let has = |list: &[String], item: &str| list.iter().any(|x| x == item || x == "*");
        has(&self.api_groups, group) && has(&self.resources, resource) && has(&self.verbs, verb)
    }
}

impl Manifests {
    /// Whether service account `account` (in the manifests' namespace) may get, list and
    /// watch EndpointSlices, as the API server's RBAC would decide from the Roles and
    /// RoleBindings here: what the API source needs.
    pub fn may_read_endpointslices(&self, account: &str) -> bool {
        self.service_accounts.iter().any(|a| a == account)
            && ["get", "list", "watch"].iter().all(|verb| {
                self.bindings.iter().any(|(role, subject)| {
                    subject == account
                        && self.roles.get(role).is_some_and(|rules| {
                            rules
                                .iter()
                                .any(|r| r.allows("discovery.k8s.io", "endpointslices", verb))
                        })
                })
            })
    }
}

/// A StatefulSet.
#[derive(Debug, Clone)]
pub struct StatefulSet {
    /// `metadata.name`.
    pub name: String,
    /// `spec.serviceName`: the headless Service.
    pub service: String,
    /// `spec.replicas`.
    pub replicas: u32,
    /// `spec.podManagementPolicy` is `Parallel` (else `OrderedReady`).
    pub parallel: bool,
    /// The pod template.
    pub template: PodTemplate,
    /// The names of `volumeClaimTemplates`: one directory per pod, kept across restarts.
    pub claims: Vec<String>,
}

/// A pod template.
#[derive(Debug, Clone, Default)]
pub struct PodTemplate {
    /// Init containers, run to completion in order.
    pub init_containers: Vec<Container>,
    /// The containers.
    pub containers: Vec<Container>,
    /// Volumes by name.
    pub volumes: BTreeMap<String, Volume>,
    /// `serviceAccountName` (default `default`).
    pub service_account: String,
}

/// A container.
#[derive(Debug, Clone, Default)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// `image`.
    pub image: String,
    /// `command` (empty: the image's entry point).
    pub command: Vec<String>,
    /// `args`.
    pub args: Vec<String>,
    /// `ports`: name → `containerPort`.
    pub ports: BTreeMap<String, u16>,
    /// Environment variables, in order.
    pub env: Vec<(String, EnvSource)>,
    /// Volume mounts.
    pub mounts: Vec<Mount>,
    /// The readiness probe.
    pub readiness: Option<Probe>,
    /// The liveness probe.
    pub liveness: Option<Probe>,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// `value`.
    Value(String),
    /// `valueFrom.fieldRef.fieldPath` (`metadata.name`, `metadata.namespace`,
    /// `status.podIP`).
    Field(String),
    /// `valueFrom.secretKeyRef`.
    Secret {
        /// The Secret.
        name: String,
        /// The key.
        key: String,
    },
}

/// A volume mount.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The volume.
    pub volume: String,
    /// Where it appears in the container.
    pub path: String,
}

/// A volume of the pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Volume {
    /// `emptyDir`: one directory per pod run.
    EmptyDir,
    /// `configMap`: its keys as files.
    ConfigMap(String),
    /// `secret`: its keys as files.
    Secret(String),
}

/// A probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What it runs.
    pub action: ProbeAction,
    /// `initialDelaySeconds`.
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// `exec.command`, run in the container.
    Exec(Vec<String>),
    /// `tcpSocket.port`: a named or numbered port of the container.
    Tcp(String),
}

/// What is wrong with a manifest, for the runner.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read or parsed.
    #[error("{file}: {message}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// A field the runner needs is missing or has the wrong shape.
    #[error("{object}: {field} {problem}")]
    Field {
        /// `Kind/name`.
        object: String,
        /// The field's path.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

impl Manifests {
    /// Reads every `*.yaml` under `dir`.
    ///
    /// # Errors
    ///
    /// [`ManifestError`] naming the file, object and field.
    pub fn read_dir(dir: &Path) -> Result<Self, ManifestError> {
        let unreadable = |file: &Path, message: String| ManifestError::Unreadable {
            file: file.display().to_string(),
            message,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| unreadable(dir, e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut manifests = Self::default();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| unreadable(&file, e.to_string()))?;
            let docs =
                YamlLoader::load_from_str(&text).map_err(|e| unreadable(&file, e.to_string()))?;
            for doc in &docs {
                manifests.add(doc)?;
            }
        }
        Ok(manifests)
    }

    fn add(&mut self, doc: &Yaml) -> Result<(), ManifestError> {
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match doc["kind"].as_str().unwrap_or_default() {
            "StatefulSet" => {
                let object = format!("StatefulSet/{name}");
                let spec = &doc["spec"];
                let replicas = spec["replicas"].as_i64().unwrap_or(1);
                self.statefulsets.push(StatefulSet {
                    service: text(&spec["serviceName"], &object, "spec.serviceName")?,
                    replicas: u32::try_from(replicas)
                        .map_err(|_| field(&object, "spec.replicas", "is negative"))?,
                    parallel: spec["podManagementPolicy"].as_str() == Some("Parallel"),
                    template: template(&spec["template"]["spec"], &object)?,
                    claims: list(&spec["volumeClaimTemplates"])
                        .iter()
                        .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_owned))
                        .collect(),
                    name,
                });
            }
            "ConfigMap" => {
                self.config_maps.insert(name, strings(&doc["data"]));
            }
            "Secret" => {
                self.secrets.insert(name, strings(&doc["stringData"]));
            }
            "Service" => {
                let ports = list(&doc["spec"]["ports"])
                    .iter()
                    .filter_map(|p| {
                        let port = u16::try_from(p["port"].as_i64()?).ok()?;
                        Some((p["name"].as_str()?.to_owned(), port))
                    })
                    .collect();
                self.services.insert(name, ports);
            }
            "Job" => {
                let object = format!("Job/{name}");
                let template = template(&doc["spec"]["template"]["spec"], &object)?;
                self.jobs.insert(name, template);
            }
            "ServiceAccount" => self.service_accounts.push(name),
            "Role" => {
                let strings = |y: &Yaml| {
                    list(y)
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                };
                let rules = list(&doc["rules"])
                    .iter()
                    .map(|r| Rule {
                        api_groups: strings(&r["apiGroups"]),
                        resources: strings(&r["resources"]),
                        verbs: strings(&r["verbs"]),
                    })
                    .collect();
                self.roles.insert(name, rules);
            }
            "RoleBinding" if doc["roleRef"]["kind"].as_str() == Some("Role") => {
                if let Some(role) = doc["roleRef"]["name"].as_str() {
                    for subject in list(&doc["subjects"]) {
                        if subject["kind"].as_str() == Some("ServiceAccount")
                            && let Some(account) = subject["name"].as_str()
                        {
                            self.bindings.push((role.to_owned(), account.to_owned()));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The StatefulSet of that name.
    pub fn statefulset(&self, name: &str) -> Option<&StatefulSet> {
        self.statefulsets.iter().find(|s| s.name == name)
    }
}

fn field(object: &str, field: &str, problem: &str) -> ManifestError {
    ManifestError::Field {
        object: object.to_owned(),
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

fn text(yaml: &Yaml, object: &str, path: &str) -> Result<String, ManifestError> {
    yaml.as_str()
        .map(str::to_owned)
        .ok_or_else(|| field(object, path, "is missing or not a string"))
}

fn list(yaml: &Yaml) -> &[Yaml] {
    yaml.as_vec().map(Vec::as_slice).unwrap_or_default()
}

fn strings(yaml: &Yaml) -> BTreeMap<String, String> {
    yaml.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn template(spec: &Yaml, object: &str) -> Result<PodTemplate, ManifestError> {
    let containers = |key: &str| -> Result<Vec<Container>, ManifestError> {
        list(&spec[key])
            .iter()
            .map(|c| container(c, &format!("{object} {key}")))
            .collect()
    };
    let mut volumes = BTreeMap::new();
    for volume in list(&spec["volumes"]) {
        let name = text(&volume["name"], object, "volumes[].name")?;
        let kind = if let Some(map) = volume["configMap"]["name"].as_str() {
            Volume::ConfigMap(map.to_owned())
        } else if let Some(secret) = volume["secret"]["secretName"].as_str() {
            Volume::Secret(secret.to_owned())
        } else if !volume["emptyDir"].is_badvalue() {
            Volume::EmptyDir
        } else {
            return Err(field(
                object,
                &format!("volumes[{name}]"),
                "is of a kind the runner does not know",
            ));
        };
        volumes.insert(name, kind);
    }
    Ok(PodTemplate {
        init_containers: containers("initContainers")?,
        containers: containers("containers")?,
        volumes,
        service_account: spec["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_owned(),
    })
}

fn container(yaml: &Yaml, object: &str) -> Result<Container, ManifestError> {
    let name = text(&yaml["name"], object, "name")?;
    let object = format!("{object}[{name}]");
    let words = |key: &str| -> Vec<String> {
        list(&yaml[key])
            .iter()
            .filter_map(|w| w.as_str().map(str::to_owned))
            .collect()
    };
    let ports = list(&yaml["ports"])
        .iter()
        .filter_map(|p| {
            let port = u16::try_from(p["containerPort"].as_i64()?).ok()?;
            Some((p["name"].as_str()?.to_owned(), port))
        })
        .collect();
    let mut env = Vec::new();
    for var in list(&yaml["env"]) {
        let key = text(&var["name"], &object, "env[].name")?;
        let from = &var["valueFrom"];
        let source = if let Some(value) = var["value"].as_str() {
            EnvSource::Value(value.to_owned())
        } else if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
            EnvSource::Field(path.to_owned())
        } else if let (Some(secret), Some(k)) = (
            from["secretKeyRef"]["name"].as_str(),
            from["secretKeyRef"]["key"].as_str(),
        ) {
            EnvSource::Secret {
                name: secret.to_owned(),
                key: k.to_owned(),
            }
        } else {
            return Err(field(
                &object,
                &format!("env[{key}]"),
                "has a source the runner does not know",
            ));
        };
        env.push((key, source));
    }
    let mounts = list(&yaml["volumeMounts"])
        .iter()
        .map(|m| {
            Ok(Mount {
                volume: text(&m["name"], &object, "volumeMounts[].name")?,
                path: text(&m["mountPath"], &object, "volumeMounts[].mountPath")?,
            })
        })
        .collect::<Result<_, ManifestError>>()?;
    Ok(Container {
        readiness: probe(&yaml["readinessProbe"], &object)?,
        liveness: probe(&yaml["livenessProbe"], &object)?,
        image: text(&yaml["image"], &object, "image")?,
        command: words("command"),
        args: words("args"),
        name,
        ports,
        env,
        mounts,
    })
}

fn probe(yaml: &Yaml, object: &str) -> Result<Option<Probe>, ManifestError> {
    if yaml.is_badvalue() {
        return Ok(None);
    }
    let seconds = |key: &str, default: i64| {
        Duration::from_secs(u64::try_from(yaml[key].as_i64().unwrap_or(default)).unwrap_or(0))
    };
    let action = if let Some(command) = yaml["exec"]["command"].as_vec() {
        ProbeAction::Exec(
            command
                .iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect(),
        )
    } else if let Some(port) = yaml["tcpSocket"]["port"].as_str() {
        ProbeAction::Tcp(port.to_owned())
    } else if let Some(port) = yaml["tcpSocket"]["port"].as_i64() {
        ProbeAction::Tcp(port.to_string())
    } else {
        return Err(field(object, "probe", "is neither exec nor tcpSocket"));
    };
    Ok(Some(Probe {
        action,
        initial_delay: seconds("initialDelaySeconds", 0),
        period: seconds("periodSeconds", 10),
        timeout: seconds("timeoutSeconds", 1),
        failure_threshold: u32::try_from(yaml["failureThreshold"].as_i64().unwrap_or(3))
            .unwrap_or(3),
    }))
}
