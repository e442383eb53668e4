//! The crate's one error type.

use std::sync::Arc;

use crate::name::InvalidName;

/// Why DNS could not answer a query. Every kind is transient: the watch keeps its last
/// good snapshot and retries with backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsFailure {
    /// The server answered with an error code such as SERVFAIL or REFUSED (CoreDNS answers
    /// SERVFAIL for cluster names until its informers have synced).
    #[error("the DNS server answered {0}")]
    ServerError(String),
    /// No answer within the query timeout.
    #[error("no answer from the DNS server within the timeout")]
    Timeout,
    /// The answer did not fit in UDP and the TCP retry failed too.
    #[error("the answer was truncated and the retry over TCP failed")]
    Truncated,
    /// Sockets failed: connection refused, network unreachable, and the like.
    #[error("I/O error talking to the DNS server: {0}")]
    Io(String),
    /// Anything else the DNS client reported.
    #[error("{0}")]
    Other(String),
}

/// Everything that can go wrong in this crate.
///
/// [`Error::is_transient`] tells failures worth retrying (DNS trouble) from mistakes that
/// a retry cannot fix (a bad name, a port the Service does not have).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service name could not be parsed.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),

    /// A [`Config`](crate::Config) value is out of range or inconsistent.
    #[error("invalid discovery configuration: {0}")]
    InvalidConfig(String),

    /// No DNS server to ask: `/etc/resolv.conf` could not be read and no nameserver was
    /// configured.
    #[error(
        "no DNS server configured: {0}; set `nameserver` in the config or DISCOVERY_NAMESERVER=ip:port"
    )]
    NoNameserver(String),

    /// A DNS query failed in a way that may pass (see [`DnsFailure`]).
    #[error("DNS query `{query}` failed: {failure}")]
    Dns {
        /// The query, as `name TYPE`.
        query: String,
        /// What went wrong.
        failure: DnsFailure,
    },

    /// The Service exists but has no port with this name: the SRV name is NXDOMAIN while
    /// the Service's own name resolves.
    #[error(
        "service `{service}` has ready pods but no port named `{port}`; check the port names in the Service spec"
    )]
    PortNotFound {
        /// The Service, as a DNS name.
        service: String,
        /// The missing port name.
        port: String,
    },

    /// No port was given and the Service publishes several.
    #[error(
        "service `{service}` publishes several ports ({ports}); name one as `_<name>._tcp.{service}` or give a number as `{service}:<port>`"
    )]
    AmbiguousPort {
        /// The Service, as a DNS name.
        service: String,
        /// The ports seen, comma-separated.
        ports: String,
    },

    /// The Service publishes no SRV records (its ports are unnamed, or the DNS server does
    /// not serve SRV), so the port must be given.
    #[error(
        "service `{service}` has no SRV records to take a port from; give the port as `{service}:<port>`"
    )]
    PortRequired {
        /// The Service, as a DNS name.
        service: String,
    },

    /// A watch is still waiting for its first answer.
    #[error("discovery of `{service}` has not completed its first resolution yet")]
    NotYetResolved {
        /// The Service, as a DNS name.
        service: String,
    },
}

impl Error {
    /// Whether retrying may help: DNS timeouts, SERVFAIL, REFUSED, I/O errors and
    /// truncation are transient; bad names and missing ports are not.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Dns { .. } | Error::NotYetResolved { .. })
    }

    pub(crate) fn dns(query: impl Into<String>, failure: DnsFailure) -> Self {
        Error::Dns {
            query: query.into(),
            failure,
        }
    }
}

/// A shared [`Error`], as kept in [`Health`](crate::Health) and handed to many subscribers.
pub type SharedError = Arc<Error>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
