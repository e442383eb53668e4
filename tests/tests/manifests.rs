//! The Kubernetes manifests under `examples/k8s` keep the promises the SDK and the examples
//! rely on, checked without a cluster: parsed with a YAML library, walked, and compared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Every document of every manifest, with the file it came from.
fn documents() -> Vec<(String, Yaml)> {
    let dir = repo().join("examples/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for doc in YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")) {
            docs.push((name.clone(), doc));
        }
    }
    docs
}

fn kind(doc: &Yaml) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Yaml) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [(String, Yaml)], wanted: &str) -> Vec<&'a Yaml> {
    docs.iter()
        .map(|(_, d)| d)
        .filter(|d| kind(d) == wanted)
        .collect()
}

fn labels(map: &Yaml) -> BTreeMap<String, String> {
    map.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn list(yaml: &Yaml) -> &[Yaml] {
    yaml.as_vec().map(Vec::as_slice).unwrap_or_default()
}

#[test]
fn every_statefulset_is_governed_by_a_headless_service_that_selects_its_pods() {
    let docs = documents();
    let services = of_kind(&docs, "Service");
    let sets = of_kind(&docs, "StatefulSet");
    assert_eq!(
        sets.iter().map(|s| name(s)).collect::<BTreeSet<_>>(),
        BTreeSet::from(["echo", "mysql", "redis"])
    );
    for set in sets {
        let set_name = name(set);
        let spec = &set["spec"];
        let governing = spec["serviceName"].as_str().unwrap_or_default();
        let service = services
            .iter()
            .find(|s| name(s) == governing)
            .unwrap_or_else(|| panic!("{set_name}: no Service named `{governing}`"));
        assert_eq!(
            service["spec"]["clusterIP"].as_str(),
            Some("None"),
            "{governing} must be headless: per-pod DNS records exist only then"
        );
        let pod_labels = labels(&spec["template"]["metadata"]["labels"]);
        let selector = labels(&service["spec"]["selector"]);
        assert!(
            !selector.is_empty() && selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
            "{governing}'s selector {selector:?} must match {set_name}'s pod labels {pod_labels:?}"
        );
        let match_labels = labels(&spec["selector"]["matchLabels"]);
        assert!(
            match_labels
                .iter()
                .all(|(k, v)| pod_labels.get(k) == Some(v))
        );

        // The Service's named port is the one the examples ask for (`_<name>._tcp`), and
        // the pods expose it under the same name.
        let port = list(&service["spec"]["ports"])
            .first()
            .unwrap_or_else(|| panic!("{governing} has no port"));
        let port_name = port["name"].as_str().unwrap_or_default();
        assert_eq!(port_name, set_name, "port name of {governing}");
        let containers = list(&spec["template"]["spec"]["containers"]);
        assert!(
            containers.iter().any(|c| list(&c["ports"]).iter().any(|p| {
                p["name"].as_str() == Some(port_name)
                    && p["containerPort"].as_i64() == port["port"].as_i64()
            })),
            "{set_name}'s containers expose port `{port_name}`"
        );
        for container in containers {
            assert!(
                !container["readinessProbe"].is_badvalue(),
                "{set_name}/{}: a readiness probe decides when DNS publishes the pod",
                container["name"].as_str().unwrap_or_default()
            );
        }
    }
}

#[test]
fn the_jobs_name_services_that_exist_with_the_examples_flags() {
    let docs = documents();
    let services: BTreeMap<&str, &Yaml> = of_kind(&docs, "Service")
        .into_iter()
        .map(|s| (name(s), s))
        .collect();
    let jobs = of_kind(&docs, "Job");
    assert_eq!(
        jobs.iter().map(|j| name(j)).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "echo-balance",
            "mysql-read-write",
            "redis-master-replica",
            "service-watch"
        ])
    );
    let examples = std::fs::read_dir(repo().join("examples"))
        .expect("examples")
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "rs" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect::<BTreeSet<_>>();
    for job in jobs {
        let container = &list(&job["spec"]["template"]["spec"]["containers"])[0];
        let args: Vec<&str> = list(&container["args"])
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        let binary = args.first().copied().unwrap_or_default();
        assert!(
            examples.contains(binary),
            "{}: `{binary}` is not an example",
            name(job)
        );
        let service = args
            .iter()
            .position(|a| *a == "--service")
            .and_then(|i| args.get(i + 1))
            .unwrap_or_else(|| panic!("{}: no --service", name(job)));
        // `_<port>._tcp.<service>`: the Service exists and has that named port.
        let mut labels = service.split('.');
        let port = labels
            .next()
            .and_then(|p| p.strip_prefix('_'))
            .unwrap_or_default();
        assert_eq!(labels.next(), Some("_tcp"), "{service}");
        let svc = labels.next().unwrap_or_default();
        let found = services
            .get(svc)
            .unwrap_or_else(|| panic!("{}: Service `{svc}` does not exist", name(job)));
        assert!(
            list(&found["spec"]["ports"])
                .iter()
                .any(|p| p["name"].as_str() == Some(port)),
            "{}: Service `{svc}` has no port named `{port}`",
            name(job)
        );
        assert_eq!(
            container["image"].as_str(),
            Some("discovery-examples:latest")
        );
    }
}

#[test]
fn mysql_follows_the_tutorial_layout_with_a_least_privilege_app_user() {
    let docs = documents();
    let services: BTreeMap<&str, &Yaml> = of_kind(&docs, "Service")
        .into_iter()
        .map(|s| (name(s), s))
        .collect();
    let read = services.get("mysql-read").expect("the mysql-read Service");
    assert!(
        read["spec"]["clusterIP"].is_badvalue(),
        "mysql-read is a normal ClusterIP Service"
    );
    let text = std::fs::read_to_string(repo().join("examples/k8s/mysql.yaml")).expect("mysql.yaml");
    assert!(
        text.contains("MASTER_USE_GTID=slave_pos"),
        "GTID replication"
    );
    assert!(text.contains("--read-only="), "read_only replicas");
    let upper = text.to_uppercase();
    assert!(
        !upper.contains("GRANT ALL ON *.*") && !upper.contains("GRANT SUPER"),
        "no global ALL/SUPER for the app user: it would write through read_only"
    );
}

#[test]
fn the_minikube_script_parses_and_passes_shellcheck() {
    let script = repo().join("examples/minikube.sh");
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("bash");
    assert!(status.success(), "bash -n examples/minikube.sh");
    shellcheck(&script, "bash");
}

/// Runs shellcheck (which `scripts/test` installs) on a file.
fn shellcheck(file: &Path, shell: &str) {
    let out = std::process::Command::new("shellcheck")
        .args(["-s", shell])
        .arg(file)
        .output()
        .expect("shellcheck is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "shellcheck {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every shell script the manifests carry: ConfigMap keys ending in `.sh`, and the
/// script of every container that runs `sh -c` / `bash -c`.
#[test]
fn every_script_in_the_manifests_passes_shellcheck() {
    let dir = std::env::temp_dir().join(format!("discovery-shellcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut checked = 0;
    for (file, doc) in documents() {
        if kind(&doc) == "ConfigMap" {
            for (key, value) in doc["data"].as_hash().into_iter().flatten() {
                let (Some(key), Some(text)) = (key.as_str(), value.as_str()) else {
                    continue;
                };
                if key.ends_with(".sh") {
                    let path = dir.join(format!("{}-{key}", name(&doc)));
                    std::fs::write(&path, text).expect("write");
                    shellcheck(&path, "sh");
                    checked += 1;
                }
            }
        }
        let spec = &doc["spec"]["template"]["spec"];
        for key in ["initContainers", "containers"] {
            for container in list(&spec[key]) {
                let words: Vec<&str> = list(&container["command"])
                    .iter()
                    .chain(list(&container["args"]))
                    .filter_map(Yaml::as_str)
                    .collect();
                if let [shell @ ("sh" | "bash"), "-c", script, ..] = words[..] {
                    let path = dir.join(format!("{file}-{}-{checked}", name(&doc)));
                    std::fs::write(&path, script).expect("write");
                    shellcheck(&path, shell);
                    checked += 1;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked >= 2, "the Redis and MariaDB scripts were found");
}

/// Strict schema validation, offline, against every Kubernetes minor version from 1.30
/// to 1.37 (`kubernetes-validate` bundles the OpenAPI schemas; `scripts/test` installs it).
#[test]
fn the_manifests_validate_strictly_against_kubernetes_1_30_to_1_37() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/k8s"))
        .expect("examples/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for minor in 30..=37 {
        let out = std::process::Command::new("kubernetes-validate")
            .args(["--strict", "--quiet", "-k", &format!("1.{minor}.0")])
            .args(&files)
            .output()
            .expect("kubernetes-validate is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "Kubernetes 1.{minor}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `examples/minikube.sh --dry-run` prints every command it would run; every file, pod,
/// StatefulSet, Job and in-pod script it names exists in the manifests.
#[test]
fn the_minikube_script_names_only_what_the_manifests_define() {
    let out = std::process::Command::new("bash")
        .arg(repo().join("examples/minikube.sh"))
        .arg("--dry-run")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let commands: Vec<&str> = text.lines().filter(|l| l.starts_with("+ ")).collect();
    assert!(commands.len() > 20, "{text}");
    let docs = documents();
    let named = |kind_name: &str| -> BTreeSet<String> {
        of_kind(&docs, kind_name)
            .into_iter()
            .map(|d| name(d).to_owned())
            .collect()
    };
    let sets = of_kind(&docs, "StatefulSet");
    let pods: BTreeSet<String> = sets
        .iter()
        .flat_map(|s| {
            let replicas = s["spec"]["replicas"].as_i64().unwrap_or(1);
            (0..replicas).map(move |o| format!("{}-{o}", name(s)))
        })
        .collect();
    // Each pod's mount paths, with the ConfigMap keys found under them.
    let mut scripts = BTreeSet::new();
    for set in &sets {
        let spec = &set["spec"]["template"]["spec"];
        for volume in list(&spec["volumes"]) {
            let Some(map) = volume["configMap"]["name"].as_str() else {
                continue;
            };
            let keys: Vec<String> = of_kind(&docs, "ConfigMap")
                .into_iter()
                .filter(|c| name(c) == map)
                .flat_map(|c| c["data"].as_hash().into_iter().flatten())
                .filter_map(|(k, _)| k.as_str().map(str::to_owned))
                .collect();
            for container in list(&spec["containers"]) {
                for mount in list(&container["volumeMounts"]) {
                    if mount["name"] == volume["name"] {
                        let path = mount["mountPath"].as_str().unwrap_or_default();
                        scripts.extend(keys.iter().map(|k| format!("{path}/{k}")));
                    }
                }
            }
        }
    }
    let mut checked = 0;
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            let previous = if i > 0 { words[i - 1] } else { "" };
            let ok = if previous == "-f" {
                repo().join(word).exists()
            } else if let Some(set) = word.strip_prefix("statefulset/") {
                named("StatefulSet").contains(set)
            } else if let Some(job) = word.strip_prefix("job/") {
                named("Job").contains(job)
            } else if let Some(pod) = word.strip_prefix("pod/") {
                pods.contains(pod)
            } else if ["exec", "pod", "follow"].contains(&previous) {
                pods.contains(*word)
            } else if word.starts_with('/') && word.ends_with(".sh") {
                scripts.contains(*word)
            } else {
                continue;
            };
            assert!(ok, "`{word}` in `{command}` is not in the manifests");
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} names checked in {text}");
}

/// `minikube image build` sends the repository root: `.dockerignore` keeps `target/` (GBs)
/// and `.git` out of it.
#[test]
fn the_image_build_context_leaves_out_target_and_git() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let lines: BTreeSet<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target/", ".git/"] {
        assert!(lines.contains(entry), ".dockerignore lacks {entry}");
    }
}

/// The Jobs run with `--source auto`, so their service account must be allowed what the
/// API source asks for (`headless_discovery::RBAC_RULE`), by the manifests' own Role and
/// RoleBinding. The pod runner hands out a token the API refuses otherwise.
#[test]
fn every_job_may_read_endpointslices_through_its_service_account() {
    let manifests =
        discovery_e2e::pods::Manifests::read_dir(&repo().join("examples/k8s")).expect("manifests");
    assert!(!manifests.jobs.is_empty());
    for (job, template) in &manifests.jobs {
        assert_ne!(
            template.service_account, "default",
            "{job}: its own service account"
        );
        assert!(
            manifests.may_read_endpointslices(&template.service_account),
            "{job}: `{}` may not get, list and watch endpointslices ({})",
            template.service_account,
            headless_discovery::RBAC_RULE
        );
        let args = &template.containers[0].args;
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--source" && w[1] == "auto"),
            "{job}: {args:?}"
        );
    }
    assert!(!manifests.may_read_endpointslices("default"));
}
