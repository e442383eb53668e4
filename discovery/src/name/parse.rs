//! Parsing what users write into a [`ServiceName`].

use std::fmt;
use std::str::FromStr;

use super::label::{LabelRole, check_label, check_port_name};

/// How to write a service name, repeated at the end of every parse error.
const FORMS: &str = "write `svc`, `svc.ns`, `svc.ns.svc[.<cluster-domain>]`, \
                     `_<port>._tcp.svc.ns[.svc.<cluster-domain>]` or `svc.ns:<port-number>`";

/// A service name that could not be parsed: what is wrong, and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid service name `{input}`: {reason}; {FORMS}")]
pub struct InvalidName {
    input: String,
    reason: String,
}

impl InvalidName {
    pub(crate) fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }

    /// The text that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it, without the reminder of the accepted forms.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Which port of the Service the peers are wanted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortSpec {
    /// Whatever port the Service publishes in its SRV records; resolution fails with
    /// [`Error::AmbiguousPort`](crate::Error::AmbiguousPort) if it publishes several.
    Any,
    /// A named port (`_<name>._<protocol>.svc...`), looked up through its SRV record.
    Named {
        /// The port's name in the Service spec, such as `redis`.
        name: String,
        /// The protocol label without its underscore: `tcp`, `udp` or `sctp`.
        protocol: String,
    },
    /// An explicit port number (`svc.ns:6379`), for Services whose port has no name.
    Number(u16),
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Any => f.write_str("any port"),
            PortSpec::Named { name, protocol } => write!(f, "port `{name}`/{protocol}"),
            PortSpec::Number(n) => write!(f, "port {n}"),
        }
    }
}

/// A headless Service as the user wrote it, checked label by label.
///
/// The namespace and cluster domain are optional here: [`Discovery`](crate::Discovery)
/// fills them in from its [`Config`](crate::Config) and the pod's [`Environment`](super::Environment)
/// to make a [`HeadlessService`](super::HeadlessService).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceName {
    service: String,
    namespace: Option<String>,
    cluster_domain: Option<String>,
    port: PortSpec,
}

impl ServiceName {
    /// Parses a service name; see the [module docs](crate::name) for the accepted forms.
    ///
    /// # Errors
    ///
    /// [`InvalidName`] says which part is wrong (an empty or over-long label, a bad
    /// character, a missing port after `:`, an unknown protocol) and how to write it.
    pub fn parse(input: &str) -> Result<Self, InvalidName> {
        let lowered = input.trim().to_ascii_lowercase();
        if lowered.is_empty() {
            return Err(InvalidName::new(input, "the name is empty"));
        }
        let (host, number) = split_port_number(input, &lowered)?;
        let host = host.strip_suffix('.').unwrap_or(host);
        let mut labels: Vec<&str> = host.split('.').collect();
        if labels.iter().any(|l| l.is_empty()) {
            return Err(InvalidName::new(
                input,
                "it has an empty label (a leading dot or two dots in a row)",
            ));
        }

        let named = if labels.first().is_some_and(|l| l.starts_with('_')) {
            Some(take_named_port(input, &mut labels)?)
        } else {
            None
        };
        let port = match (named, number) {
            (Some(_), Some(_)) => {
                return Err(InvalidName::new(
                    input,
                    "both a named port (`_name._tcp.`) and a port number (`:n`) are given; keep one",
                ));
            }
            (Some(named), None) => named,
            (None, Some(n)) => PortSpec::Number(n),
            (None, None) => PortSpec::Any,
        };

        let (service, namespace, cluster_domain) = match labels.as_slice() {
            [svc] => (*svc, None, None),
            [svc, ns] => (*svc, Some(*ns), None),
            [svc, ns, "svc", domain @ ..] => {
                let domain = (!domain.is_empty()).then(|| domain.join("."));
                (*svc, Some(*ns), domain)
            }
            [_, _, third, ..] => {
                return Err(InvalidName::new(
                    input,
                    format!(
                        "the third label is `{third}`, but a Service's DNS name continues with `svc`"
                    ),
                ));
            }
            [] => unreachable_empty(input)?,
        };

        check_label(input, service, LabelRole::Service)?;
        if let Some(ns) = namespace {
            check_label(input, ns, LabelRole::Namespace)?;
        }
        if let Some(domain) = &cluster_domain {
            for label in domain.split('.') {
                check_label(input, label, LabelRole::Domain)?;
            }
        }
        Ok(Self {
            service: service.to_owned(),
            namespace: namespace.map(str::to_owned),
            cluster_domain,
            port,
        })
    }

    /// Builds a name from parts that are already known to be separate (a config file's
    /// `service`, `namespace` and `port` fields), checking each.
    ///
    /// # Errors
    ///
    /// As for [`parse`](Self::parse).
    pub fn from_parts(
        service: &str,
        namespace: Option<&str>,
        port: PortSpec,
    ) -> Result<Self, InvalidName> {
        let shown = match namespace {
            Some(ns) => format!("{service}.{ns}"),
            None => service.to_owned(),
        };
        check_label(&shown, service, LabelRole::Service)?;
        if let Some(ns) = namespace {
            check_label(&shown, ns, LabelRole::Namespace)?;
        }
        if let PortSpec::Named { name, protocol } = &port {
            check_port_name(&shown, name)?;
            check_protocol(&shown, protocol)?;
        }
        Ok(Self {
            service: service.to_owned(),
            namespace: namespace.map(str::to_owned),
            cluster_domain: None,
            port,
        })
    }

    /// The Service's name (the first label after any `_port._proto`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The namespace, if the name gave one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The cluster domain, if the name gave one (`cluster.local` in `svc.ns.svc.cluster.local`).
    pub fn cluster_domain(&self) -> Option<&str> {
        self.cluster_domain.as_deref()
    }

    /// The port the peers are wanted on.
    pub fn port(&self) -> &PortSpec {
        &self.port
    }

    /// Replaces the port.
    #[must_use]
    pub fn with_port(mut self, port: PortSpec) -> Self {
        self.port = port;
        self
    }

    /// Picks the named TCP port `name`, as a CLI's `--port-name` flag does.
    ///
    /// # Errors
    ///
    /// [`InvalidName`] if `name` is not a valid Kubernetes port name.
    pub fn with_port_name(self, name: &str) -> Result<Self, InvalidName> {
        check_port_name(&format!("_{name}._tcp.{self}"), name)?;
        Ok(self.with_port(PortSpec::Named {
            name: name.to_owned(),
            protocol: "tcp".to_owned(),
        }))
    }
}

impl FromStr for ServiceName {
    type Err = InvalidName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let PortSpec::Named { name, protocol } = &self.port {
            write!(f, "_{name}._{protocol}.")?;
        }
        f.write_str(&self.service)?;
        if let Some(ns) = &self.namespace {
            write!(f, ".{ns}")?;
        }
        if let Some(domain) = &self.cluster_domain {
            write!(f, ".svc.{domain}")?;
        }
        if let PortSpec::Number(n) = self.port {
            write!(f, ":{n}")?;
        }
        Ok(())
    }
}

/// Splits `host:port`; a `:` must be followed by a port number from 1 to 65535.
fn split_port_number<'a>(
    input: &str,
    lowered: &'a str,
) -> Result<(&'a str, Option<u16>), InvalidName> {
    let Some((host, port)) = lowered.rsplit_once(':') else {
        return Ok((lowered, None));
    };
    if port.is_empty() {
        return Err(InvalidName::new(
            input,
            "the port number after `:` is missing",
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(InvalidName::new(
            input,
            format!("`{port}` after `:` is not a port number from 1 to 65535"),
        )),
        Ok(n) => Ok((host, Some(n))),
    }
}

/// Takes the leading `_<port>._<proto>` labels off `labels`.
fn take_named_port(input: &str, labels: &mut Vec<&str>) -> Result<PortSpec, InvalidName> {
    let (Some(port), Some(proto)) = (labels.first().copied(), labels.get(1).copied()) else {
        return Err(InvalidName::new(input, "a named port needs a protocol too"));
    };
    let Some(protocol) = proto.strip_prefix('_') else {
        return Err(InvalidName::new(
            input,
            format!(
                "`{proto}` follows the port name, but the protocol must be written `_tcp`, `_udp` or `_sctp`"
            ),
        ));
    };
    let name = port.trim_start_matches('_');
    check_port_name(input, name)?;
    check_protocol(input, protocol)?;
    if labels.len() < 3 {
        return Err(InvalidName::new(
            input,
            "the service is missing after the port and protocol",
        ));
    }
    let spec = PortSpec::Named {
        name: name.to_owned(),
        protocol: protocol.to_owned(),
    };
    labels.drain(..2);
    Ok(spec)
}

fn check_protocol(input: &str, protocol: &str) -> Result<(), InvalidName> {
    match protocol {
        "tcp" | "udp" | "sctp" => Ok(()),
        other => Err(InvalidName::new(
            input,
            format!(
                "`_{other}` is not a protocol Kubernetes publishes; use `_tcp`, `_udp` or `_sctp`"
            ),
        )),
    }
}

/// `str::split` always yields at least one item, so this only documents the impossible case.
fn unreachable_empty<T>(input: &str) -> Result<T, InvalidName> {
    Err(InvalidName::new(input, "the name is empty"))
}

#[cfg(test)]
mod tests;
