//! A fully qualified headless Service: the names queried for it.

use std::fmt;

use hickory_resolver::proto::rr::Name;

use super::label::MAX_LABEL_LEN;
use super::{InvalidName, PortSpec, ServiceName};

/// A headless Service with every part known: name, namespace, cluster domain and port.
///
/// Made by [`Discovery`](crate::Discovery) from a [`ServiceName`]; its DNS names are
/// absolute, so lookups never walk the `resolv.conf` search list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeadlessService {
    service: String,
    namespace: String,
    cluster_domain: String,
    port: PortSpec,
}

impl HeadlessService {
    /// Completes `name` with the namespace and cluster domain it did not give.
    pub fn new(name: &ServiceName, default_namespace: &str, default_domain: &str) -> Self {
        let domain = name.cluster_domain().unwrap_or(default_domain);
        Self {
            service: name.service().to_owned(),
            namespace: name.namespace().unwrap_or(default_namespace).to_owned(),
            cluster_domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            port: name.port().clone(),
        }
    }

    /// The Service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The cluster domain, such as `cluster.local`.
    pub fn cluster_domain(&self) -> &str {
        &self.cluster_domain
    }

    /// The port the peers are wanted on.
    pub fn port(&self) -> &PortSpec {
        &self.port
    }

    /// `svc.ns.svc.<domain>` without the trailing dot: the suffix of every pod's FQDN.
    pub fn domain_name(&self) -> String {
        format!(
            "{}.{}.svc.{}",
            self.service, self.namespace, self.cluster_domain
        )
    }

    /// Fails if the names queried for this Service, or a pod's name under it (with the
    /// longest hostname a pod can have, 63 characters), would exceed what DNS allows.
    pub(crate) fn check_length(&self, input: &str) -> Result<(), InvalidName> {
        const MAX_NAME: usize = 253;
        let longest = self
            .srv_name()
            .len()
            .max(self.domain_name().len() + 1 + MAX_LABEL_LEN);
        if longest > MAX_NAME {
            return Err(InvalidName::new(
                input,
                format!(
                    "`{}` is too long: its pods' names would have up to {longest} characters, and DNS allows {MAX_NAME}",
                    self.domain_name()
                ),
            ));
        }
        Ok(())
    }

    fn srv_name(&self) -> String {
        match &self.port {
            PortSpec::Named { name, protocol } => {
                format!("_{name}._{protocol}.{}", self.domain_name())
            }
            PortSpec::Any | PortSpec::Number(_) => self.domain_name(),
        }
    }

    /// The absolute name whose A/AAAA records list the ready pods.
    pub(crate) fn address_query(&self) -> Result<Name, crate::Error> {
        absolute(&self.domain_name())
    }

    /// The absolute name to ask for SRV records: `_<port>._<proto>.svc...` for a named port,
    /// otherwise the bare Service, which CoreDNS answers with every endpoint and port.
    pub(crate) fn srv_query(&self) -> Result<Name, crate::Error> {
        absolute(&self.srv_name())
    }
}

impl fmt::Display for HeadlessService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            PortSpec::Named { name, protocol } => {
                write!(f, "_{name}._{protocol}.{}", self.domain_name())
            }
            PortSpec::Any => f.write_str(&self.domain_name()),
            PortSpec::Number(n) => write!(f, "{}:{n}", self.domain_name()),
        }
    }
}

fn absolute(name: &str) -> Result<Name, crate::Error> {
    Name::from_ascii(format!("{name}."))
        .map_err(|e| crate::Error::InvalidConfig(format!("`{name}` is not a valid DNS name: {e}")))
}
