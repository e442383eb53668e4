//! One module per subcommand.

#[cfg(feature = "demo")]
pub(crate) mod demo;
#[cfg(feature = "demo")]
mod demo_stores;
pub(crate) mod mysql;
pub(crate) mod redis;
pub(crate) mod resolve;
mod topology;
pub(crate) mod watch;

use headless_discovery::{Config, Discovery, ServiceName};

use crate::args::Target;
use crate::exit::Failure;

/// The discovery client and parsed name a `resolve`/`watch` command asks for.
pub(crate) fn client(
    target: &Target,
) -> Result<(Discovery, ServiceName), headless_discovery::Error> {
    let mut name = ServiceName::parse(&target.service)?;
    if let Some(port) = &target.port_name {
        name = name.with_port_name(port)?;
    }
    let mut config = Config::default();
    config.nameserver = target.nameserver;
    config.namespace = target.namespace.clone();
    config.cluster_domain = target.cluster_domain.clone();
    config.source = target.source;
    config.kubeconfig = target.kubeconfig.clone();
    Ok((Discovery::new(config)?, name))
}

/// A password from the environment variable `var` (never from the command line, where
/// `ps` and shell history would show it).
pub(crate) fn password(var: &str) -> Result<String, Failure> {
    std::env::var(var).map_err(|_| Failure::Usage(format!("--password-env: ${var} is not set")))
}
