//! [`DnsClient`]: queries through hickory's name-server pool, without its cache.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use hickory_resolver::config::ProtocolConfig;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::DnsHandle;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::{DnsRequestOptions, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};

use super::{Answer, tcp};
use crate::config::Config;
use crate::error::{DnsFailure, Error, Result};

/// A DNS client for discovery queries: absolute names only, no cache, TCP after truncation.
#[derive(Clone)]
pub(crate) struct DnsClient {
    pool: NameServerPool<TokioRuntimeProvider>,
    request: DnsRequestOptions,
    timeout: Duration,
    servers: Arc<str>,
    /// The servers' TCP endpoints, for answers larger than one message.
    tcp_servers: Arc<[SocketAddr]>,
    /// Questions whose answers did not fit in a UDP message: asked over TCP directly, for
    /// as many more queries as the count says, or until a TCP answer would fit again.
    oversized: Arc<Mutex<HashMap<(Name, RecordType), u32>>>,
}

impl std::fmt::Debug for DnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsClient")
            .field("servers", &self.servers)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DnsClient {
    /// Builds a client for the configured nameserver, or the system's.
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let servers = match config.effective_nameserver()? {
            Some(addr) => vec![explicit_server(addr)],
            None => {
                let (system, _) =
                    hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                        Error::NoNameserver(format!("reading /etc/resolv.conf failed: {e}"))
                    })?;
                let servers = system.name_servers().to_vec();
                if servers.is_empty() {
                    return Err(Error::NoNameserver(
                        "/etc/resolv.conf lists no nameserver".into(),
                    ));
                }
                servers
            }
        };
        let tcp_servers: Arc<[SocketAddr]> = servers
            .iter()
            .flat_map(|s| {
                s.connections
                    .iter()
                    .filter(|c| matches!(c.protocol, ProtocolConfig::Tcp))
                    .map(move |c| SocketAddr::new(s.ip, c.port))
            })
            .collect();
        let shown = servers
            .iter()
            .map(|s| s.ip.to_string())
            .collect::<Vec<_>>()
            .join(", ");

        let mut opts = ResolverOpts::default();
        opts.timeout = config.query_timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.edns0 = true;
        let tls = TlsConfig::new()
            .map_err(|e| Error::NoNameserver(format!("DNS client setup failed: {e}")))?;
        let context = Arc::new(PoolContext::new(opts, tls));
        let pool = NameServerPool::from_config(servers, context, TokioRuntimeProvider::default());

        let mut request = DnsRequestOptions::default();
        request.use_edns = true;
        request.recursion_desired = true;
        Ok(Self {
            pool,
            request,
            // The pool's own timeout is per attempt; this bounds the whole exchange,
            // including the TCP retry after a truncated UDP answer.
            timeout: config.query_timeout * 2,
            servers: shown.into(),
            tcp_servers,
            oversized: Arc::default(),
        })
    }

    /// Asks `name` (absolute) for `rtype` and sorts the response into an [`Answer`].
    ///
    /// # Errors
    ///
    /// [`Error::Dns`] for SERVFAIL, REFUSED, timeouts, I/O errors and truncation.
    pub(crate) async fn query(&self, name: &Name, rtype: RecordType) -> Result<Answer> {
        let question = (name.clone(), rtype);
        if self.tcp_first(&question) {
            return self.query_tcp(&question).await;
        }
        let query = Query::query(name.clone(), rtype);
        let mut responses = self.pool.lookup(query, self.request);
        let first = tokio::time::timeout(self.timeout, responses.next()).await;
        let shown = || format!("{name} {rtype}");
        let response = match first {
            Err(_elapsed) => return Err(Error::dns(shown(), DnsFailure::Timeout)),
            Ok(None) => return Err(Error::dns(shown(), DnsFailure::Other("no response".into()))),
            Ok(Some(Err(NetError::Truncated))) => {
                tracing::debug!(%name, %rtype, "answer larger than one DNS message; asking over TCP directly for a while");
                self.oversized().insert(question.clone(), TCP_FIRST_QUERIES);
                return self.query_tcp(&question).await;
            }
            Ok(Some(Err(e))) => return classify_error(e).map_err(|f| Error::dns(shown(), f)),
            Ok(Some(Ok(response))) => response,
        };
        // hickory hands over NXDOMAIN with records and unassigned codes as responses:
        // the code decides, not the records.
        answer_of(response.into_message(), name, rtype).map_err(|f| Error::dns(shown(), f))
    }

    /// Whether `question` goes straight to TCP this time, counting the query.
    fn tcp_first(&self, question: &(Name, RecordType)) -> bool {
        let mut oversized = self.oversized();
        let Some(left) = oversized.get_mut(question) else {
            return false;
        };
        if *left == 0 {
            // Try UDP again: the Service may have shrunk. If not, UDP says so at once.
            oversized.remove(question);
            return false;
        }
        *left -= 1;
        true
    }

    /// The same question over TCP, keeping a truncated answer (marked incomplete).
    async fn query_tcp(&self, question: &(Name, RecordType)) -> Result<Answer> {
        let (name, rtype) = (&question.0, question.1);
        let mut failure = DnsFailure::Io("no TCP endpoint configured".into());
        for server in self.tcp_servers.iter() {
            match tcp::query(*server, name, rtype, self.timeout).await {
                Ok((message, size)) => {
                    if !message.metadata.truncation
                        && size <= usize::from(self.request.edns_payload_len)
                    {
                        // It would fit in UDP now: back to UDP from the next query.
                        self.oversized().remove(question);
                    }
                    return answer_of(message, name, rtype)
                        .map_err(|f| Error::dns(format!("{name} {rtype}"), f));
                }
                Err(f) => failure = f,
            }
        }
        Err(Error::dns(format!("{name} {rtype}"), failure))
    }

    fn oversized(&self) -> std::sync::MutexGuard<'_, HashMap<(Name, RecordType), u32>> {
        self.oversized
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// After a truncated UDP answer, how many more queries of that question go straight to
/// TCP before UDP is tried again (unless a TCP answer shows it would fit sooner).
const TCP_FIRST_QUERIES: u32 = 16;

/// Sorts a whole message into an [`Answer`] by its response code: records count only
/// under NOERROR.
fn answer_of(message: Message, name: &Name, rtype: RecordType) -> Result<Answer, DnsFailure> {
    let complete = !message.metadata.truncation;
    let negative_ttl = message.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(Duration::from_secs(u64::from(r.ttl.min(soa.minimum)))),
        _ => None,
    });
    match message.metadata.response_code {
        ResponseCode::NXDomain => Ok(Answer::NxDomain { negative_ttl }),
        ResponseCode::NoError => Ok(match records(message, name, rtype, complete) {
            Answer::NoData { .. } => Answer::NoData { negative_ttl },
            answer => answer,
        }),
        other => Err(DnsFailure::ServerError {
            rcode: u16::from(other),
        }),
    }
}

/// The records of the asked name and type, with the Additional section; NODATA if none.
fn records(message: Message, name: &Name, rtype: RecordType, complete: bool) -> Answer {
    let records: Vec<_> = message
        .answers
        .into_iter()
        .filter(|r| r.record_type() == rtype && r.name == *name)
        .collect();
    if records.is_empty() {
        // NOERROR with only other types (a CNAME, say): the type is absent here.
        return Answer::NoData { negative_ttl: None };
    }
    Answer::Records {
        records,
        additionals: message.additionals,
        complete,
    }
}

/// A server or transport that listens on `addr`: UDP first, TCP for truncated answers.
fn explicit_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

/// NXDOMAIN and NODATA are answers; everything else is a transient failure.
fn classify_error(error: NetError) -> Result<Answer, DnsFailure> {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords {
            response_code,
            negative_ttl,
            ..
        })) => {
            let negative_ttl = negative_ttl.map(|s| Duration::from_secs(u64::from(s)));
            match response_code {
                ResponseCode::NXDomain => Ok(Answer::NxDomain { negative_ttl }),
                ResponseCode::NoError => Ok(Answer::NoData { negative_ttl }),
                other => Err(DnsFailure::ServerError {
                    rcode: u16::from(other),
                }),
            }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => Err(DnsFailure::ServerError {
            rcode: u16::from(code),
        }),
        NetError::Timeout => Err(DnsFailure::Timeout),
        NetError::Truncated => Err(DnsFailure::Truncated),
        NetError::Io(e) => Err(DnsFailure::Io(e.to_string())),
        NetError::NoConnections => Err(DnsFailure::Io("no connection to any DNS server".into())),
        other => Err(DnsFailure::Other(other.to_string())),
    }
}
