//! The API source (feature `kube`): peers pushed from the Service's EndpointSlices
//! instead of polled from DNS.
//!
//! Select it with [`Source::Kube`](crate::Source::Kube); the [`Watch`](crate::Watch),
//! [`PeerEvent`](crate::PeerEvent) and tower APIs stay the same, and a pod keeps its
//! [`PeerKey`](crate::PeerKey) across sources. The client is kube-rs's: the config's
//! `kubeconfig`, else `$KUBECONFIG` or `~/.kube/config`, else the pod's service account
//! (or pass one with [`Discovery::with_kube_client`](crate::Discovery::with_kube_client)).
//!
//! What it adds over DNS: a change arrives as one watch event, not after a TTL and a
//! cache; a terminating pod that still serves is a [draining](crate::Peer::is_draining)
//! peer; each peer has its [zone](crate::Peer::zone) and [node](crate::Peer::node).
//! The RBAC it needs is [`RBAC_RULE`](crate::RBAC_RULE), in the Service's namespace.
//!
//! # Examples
//!
//! ```no_run
//! use headless_discovery::{Config, Discovery, Source};
//!
//! # async fn run() -> Result<(), headless_discovery::Error> {
//! let discovery = Discovery::new(Config::new().source(Source::Kube))?;
//! let watch = discovery.watch("_redis._tcp.redis.cache").await?;
//! for peer in &watch.peers() {
//!     println!("{peer} zone {:?} draining {}", peer.zone(), peer.is_draining());
//! }
//! # Ok(()) }
//! ```
//!
//! Failures keep the last good set and report [`Health::Degraded`](crate::Health::Degraded);
//! a relist (after 410 Gone) publishes only the differences; a Service whose slices all
//! go away empties only after `empty_grace`, as NXDOMAIN does.

mod auto;
mod error;
mod follow;
mod slices;

use kube::config::{KubeConfigOptions, Kubeconfig};

pub(crate) use auto::{Auto, DnsFallback};
pub(crate) use follow::Follower;

use crate::config::Config;
use crate::error::ApiFailure;

/// The API source's client of one [`Discovery`](crate::Discovery), made on first use.
#[derive(Default)]
pub(crate) struct ClientCell(pub(crate) tokio::sync::OnceCell<kube::Client>);

impl std::fmt::Debug for ClientCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // kube::Client has no Debug, and its config holds credentials anyway.
        f.write_str(if self.0.initialized() {
            "ClientCell(made)"
        } else {
            "ClientCell(none yet)"
        })
    }
}

/// A kube-rs client as `config` says: its `kubeconfig`, else what kube-rs infers.
pub(crate) async fn client(config: &Config) -> Result<kube::Client, ApiFailure> {
    let mut kube_config = match &config.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| ApiFailure::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| ApiFailure::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ApiFailure::Config(e.to_string()))?,
    };
    // A stalled watch (the connection alive, the server silent) is seen by this read
    // timeout, since bookmarks keep a live watch talking.
    kube_config.read_timeout = Some(config.api_silence_timeout);
    kube::Client::try_from(kube_config).map_err(error::from_client)
}
