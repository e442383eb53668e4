//! One module per subcommand.

pub(crate) mod demo;
pub(crate) mod redis;
pub(crate) mod resolve;
pub(crate) mod watch;

use discovery::{Config, Discovery, ServiceName};

use crate::args::Target;

/// The discovery client and parsed name a `resolve`/`watch` command asks for.
pub(crate) fn client(target: &Target) -> Result<(Discovery, ServiceName), discovery::Error> {
    let mut name = ServiceName::parse(&target.service)?;
    if let Some(port) = &target.port_name {
        name = name.with_port_name(port)?;
    }
    let mut config = Config::default();
    config.nameserver = target.nameserver;
    config.namespace = target.namespace.clone();
    config.cluster_domain = target.cluster_domain.clone();
    Ok((Discovery::new(config)?, name))
}
