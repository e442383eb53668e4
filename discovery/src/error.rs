//! The crate's one error type.

use std::sync::Arc;

use crate::name::InvalidName;

/// Why DNS could not answer a query. Every kind is transient: the watch keeps its last
/// good snapshot and retries with backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsFailure {
    /// The server answered with an error code such as SERVFAIL or REFUSED (CoreDNS answers
    /// SERVFAIL for cluster names until its informers have synced). Records that came with
    /// it are not used.
    #[error("the DNS server answered {} (rcode {rcode})", rcode_name(*rcode))]
    ServerError {
        /// The response code, 1 to 4095.
        rcode: u16,
    },
    /// No answer within the query timeout.
    #[error("no answer from the DNS server within the timeout")]
    Timeout,
    /// The answer did not fit in UDP and the TCP retry failed too.
    #[error("the answer was truncated and the retry over TCP failed")]
    Truncated,
    /// Even over TCP the answer did not fit in one DNS message (64 KiB): the Service has
    /// more pods than DNS can list. See [`MAX_PODS`].
    #[error(
        "the answer does not fit in one DNS message even over TCP ({records} records arrived); \
         the Service has more pods than one message can list (CoreDNS fits about {MAX_PODS} IPv4 pods)"
    )]
    TooLarge {
        /// How many records of the asked type the truncated answer carried.
        records: usize,
    },
    /// The answer contradicts itself, so it is not believed: the last known peers stay.
    #[error("the DNS answer contradicts itself: {0}")]
    Contradictory(Contradiction),
    /// Sockets failed: connection refused, network unreachable, and the like.
    #[error("I/O error talking to the DNS server: {0}")]
    Io(String),
    /// Anything else the DNS client reported.
    #[error("{0}")]
    Other(String),
}

/// About the largest Service (IPv4 pods) whose A records CoreDNS fits in one 64 KiB
/// message: 16 bytes per compressed record. Beyond it, resolution fails with
/// [`DnsFailure::TooLarge`]. Servers that compress less fit fewer (the testkit: 1 531);
/// IPv6 pods, about 2 300.
pub const MAX_PODS: usize = 4_000;

/// How an answer contradicted itself. CoreDNS never answers this way; a broken or
/// hostile server can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Contradiction {
    /// SRV records were there, but none named a pod of this Service on a usable port.
    #[error("no SRV record names a pod of this Service ({rejected} rejected)")]
    NoUsableRecord {
        /// How many records were rejected.
        rejected: usize,
    },
    /// SRV records name pods whose own names have no address (NODATA, a CNAME loop).
    #[error("SRV records name pods without an address: {}", targets.join(", "))]
    TargetsWithoutAddress {
        /// The pods' names.
        targets: Vec<String>,
    },
    /// The Service's name exists (NOERROR), yet has neither A nor AAAA records, although
    /// its SRV answer or its port say it has pods.
    #[error("the Service's name has neither A nor AAAA records")]
    NoAddresses,
}

/// The mnemonic of a DNS response code (RFC 6895 §2.3).
fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17..=23 => "a TSIG/TKEY error",
        _ => "an unassigned response code",
    }
}

/// Why the Kubernetes API could not list or watch a Service's EndpointSlices (the API
/// source, feature `kube`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiFailure {
    /// The API server answered with an error status.
    #[error("{}", status_text(*code, reason, message))]
    Status {
        /// The HTTP status code: 401, 403, 410, 500...
        code: u16,
        /// The machine-readable reason (`Forbidden`, `Expired`...), possibly empty.
        reason: String,
        /// The server's message.
        message: String,
    },
    /// The API server could not be reached, or the connection broke.
    #[error("cannot reach the API server: {0}")]
    Transport(String),
    /// No client could be made: no kubeconfig and no in-cluster service account, or one
    /// that does not parse.
    #[error(
        "no Kubernetes client: {0}; run in a pod with a service account, set KUBECONFIG, or set `kubeconfig` in the config"
    )]
    Config(String),
    /// The API server took requests but listed nothing within the bound (a stalled
    /// server or a network that drops packets): `Auto` starts on DNS meanwhile.
    #[error("the API server listed nothing within {after:?}")]
    Silent {
        /// How long it was given.
        after: std::time::Duration,
    },
    /// The server sent something that is not what the API describes.
    #[error("unexpected answer from the API server: {0}")]
    Protocol(String),
}

impl ApiFailure {
    /// Whether a retry may help: transport trouble, 5xx, 429 and an expired watch are
    /// transient; 401, 403 and 404 need someone to change the credentials, RBAC or name.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiFailure::Status { code, .. } => !matches!(code, 401 | 403 | 404),
            ApiFailure::Transport(_) | ApiFailure::Protocol(_) | ApiFailure::Silent { .. } => true,
            ApiFailure::Config(_) => false,
        }
    }

    /// The HTTP status, for a failure the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiFailure::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The Role rule the API source needs, as the 403 hint prints it.
pub const RBAC_RULE: &str = r#"apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"]"#;

fn status_text(code: u16, reason: &str, message: &str) -> String {
    let mut text = format!("the API server answered {code}");
    if !reason.is_empty() {
        text.push_str(&format!(" {reason}"));
    }
    if !message.is_empty() {
        text.push_str(&format!(": {message}"));
    }
    match code {
        403 => text.push_str(&format!(
            "; the client's service account needs a Role in the Service's namespace with {RBAC_RULE}, bound by a RoleBinding"
        )),
        401 => text.push_str("; the credentials were refused: check the token or the kubeconfig's user"),
        _ => {}
    }
    text
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
        "service `{service}` publishes several ports ({}); name one as `_<name>._tcp.{service}` or give a number as `{service}:<port>`",
        ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousPort {
        /// The Service, as a DNS name.
        service: String,
        /// The ports seen, in increasing order.
        ports: Vec<u16>,
    },

    /// A named port's SRV name exists but has no SRV records (NODATA). CoreDNS always
    /// serves them for a named port, so the server is not answering like CoreDNS.
    #[error(
        "`{query}` exists but has no SRV records, which CoreDNS always serves for a named port; check that the DNS server is the cluster's (`nameserver`), or give the port number as `{service}:<port>` to use the A/AAAA records"
    )]
    NoSrvRecords {
        /// The SRV name asked.
        query: String,
        /// The Service, as a DNS name.
        service: String,
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

    /// The Kubernetes API could not list or watch the Service's EndpointSlices.
    #[error("Kubernetes API, EndpointSlices of `{service}`: {failure}")]
    Api {
        /// The Service, as a DNS name.
        service: String,
        /// What went wrong.
        failure: ApiFailure,
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
    /// truncation are transient, and so are API failures that
    /// [`ApiFailure::is_transient`] says are; bad names and missing ports are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Dns { .. } | Error::NotYetResolved { .. } => true,
            Error::Api { failure, .. } => failure.is_transient(),
            _ => false,
        }
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
