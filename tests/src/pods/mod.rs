//! A pod runner: the shipped `examples/k8s/*.yaml` run as Kubernetes would run them, with
//! Debian's `redis-server` and `mariadbd` standing in for the images' binaries.
//!
//! Each pod gets its own network namespace on a bridge the runner owns (pod IPs in
//! `10.250.<n>.0/24`), and each container its own mount, UTS and PID namespaces with a
//! root that holds only what an image would, the manifest's volumes and a kubelet-style
//! `resolv.conf` pointing at the testkit DNS on the bridge, port 53. StatefulSets start
//! pods one at a time in ordinal order (OrderedReady); probes run as the manifest says,
//! and a pod is in the DNS only while its readiness probe passes. Everything is removed
//! on drop, also on panic.
//!
//! ```no_run
//! # async fn run() -> Result<(), discovery_e2e::pods::PodError> {
//! use std::time::Duration;
//! use discovery_e2e::pods::Runner;
//!
//! let runner = Runner::start("examples/k8s".as_ref(), "target/debug/examples".as_ref()).await?;
//! let redis = runner.apply("redis", Duration::from_secs(60)).await?;
//! let out = redis.exec(0, &["redis-cli", "role"]).await?;
//! # Ok(()) }
//! ```

mod container;
mod image;
mod manifest;
mod network;
mod pod;
mod runner;
mod statefulset;

pub use container::Handle;
pub use manifest::{ManifestError, Manifests};
pub use pod::{Pod, ReadyWait};
pub use runner::Runner;
pub use statefulset::RunningSet;

/// What went wrong running the manifests' pods.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// The manifests cannot be run as written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Setting up the pods' network failed.
    #[error("`{command}` failed: {message} (the pod runner needs root for network namespaces)")]
    Network {
        /// The command.
        command: String,
        /// Its error output.
        message: String,
    },
    /// A container could not be started or stopped.
    #[error("pod {pod}: {message}")]
    Container {
        /// The pod.
        pod: String,
        /// What happened.
        message: String,
    },
    /// A command run inside a container failed to run (not: exited non-zero).
    #[error("exec `{command}`: {message}")]
    Exec {
        /// The command.
        command: String,
        /// What happened.
        message: String,
    },
    /// A manifest names an image the runner has no stand-in for.
    #[error("no stand-in for image {0}: add it to tests/src/pods/image.rs")]
    Image(String),
    /// A pod did not become Ready in time.
    #[error("pod {pod} not Ready after {waited:?}; its last log lines:\n{log}")]
    NotReady {
        /// The pod.
        pod: String,
        /// How long the runner waited.
        waited: std::time::Duration,
        /// The tail of its containers' logs.
        log: String,
    },
    /// The testkit DNS failed.
    #[error("testkit: {0}")]
    Testkit(#[from] headless_discovery_testkit::Error),
    /// A file under the runner's directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
