//! One resolution: a headless Service's DNS records turned into a [`PeerSet`].
//!
//! 1. SRV first: `_<port>._<proto>.<svc>...` for a named port, else the bare Service name,
//!    which CoreDNS answers with every endpoint and port. Target addresses come from the
//!    Additional section; only targets without glue are looked up.
//! 2. No SRV records (NODATA): A and AAAA on the Service name, then PTR per address to
//!    recover the pod names; an address without a usable PTR is named by its dashed IP.
//! 3. An SRV answer too large for one DNS message (hundreds of pods, even over TCP): the
//!    A/AAAA records of the Service give the complete set of addresses, the SRV records and
//!    glue that fit name most of them, and PTR names the rest. Part of a set is never
//!    published as if it were all of it.
//! 4. NXDOMAIN for the Service: no pod is ready. For a named port, the Service name is
//!    asked too, to tell "no ready pod" from "no such port".
//!
//! Only names of this Service's pods are believed ([`scope`]); everything else in an
//! answer is dropped and reported. An answer that contradicts itself (SRV records whose
//! pods have no address, or none usable) is an error, never an empty set: only NXDOMAIN
//! says that no pod is ready.
//!
//! The refresh delay is the smallest TTL seen.

mod address;
mod scope;
mod srv;

use std::collections::HashMap;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;

use crate::dns::{Answer, DnsClient};
use crate::error::{Contradiction, DnsFailure, Error, Result};
use crate::name::{HeadlessService, PortSpec};
use crate::peer::PeerSet;

pub(crate) use scope::Rejected;

/// What one resolution found.
#[derive(Debug, Clone)]
pub(crate) enum Resolution {
    /// The ready pods, how long the answer may be trusted, and the records that were
    /// dropped because they named no pod of this Service.
    Peers {
        peers: PeerSet,
        ttl: Duration,
        rejected: Vec<Rejected>,
    },
    /// NXDOMAIN for the Service: no ready pod, for `ttl` if the server said.
    NoReadyPods { ttl: Option<Duration> },
}

/// The TTL used when an answer carries none (an empty negative answer without SOA).
const TTL_WHEN_UNKNOWN: Duration = Duration::from_secs(5);

/// Resolves `service` once.
pub(crate) async fn resolve(
    dns: &DnsClient,
    service: &HeadlessService,
    concurrency: usize,
) -> Result<Resolution> {
    let srv_name = service.srv_query()?;
    let scope = scope::Scope::new(service)?;
    match dns.query(&srv_name, RecordType::SRV).await? {
        Answer::Records {
            records,
            additionals,
            complete,
        } => {
            let mut rejected = Vec::new();
            let srv = srv::SrvAnswer::new(
                service,
                &srv_name,
                &scope,
                &records,
                &additionals,
                &mut rejected,
            );
            if complete {
                srv?.peers(dns, rejected, concurrency).await
            } else {
                // Too large for one message: the addresses give the full set, the SRV
                // records and glue that fit name most of it, PTR names the rest.
                let srv = srv?;
                let port = srv.port_for_all();
                let known = srv.names_by_ip();
                address::peers(dns, service, &scope, port, &known, rejected, concurrency).await
            }
        }
        Answer::NxDomain { negative_ttl } => match service.port() {
            PortSpec::Named { name, .. } => {
                no_such_port_or_no_pods(dns, service, name, negative_ttl).await
            }
            PortSpec::Any | PortSpec::Number(_) => {
                Ok(Resolution::NoReadyPods { ttl: negative_ttl })
            }
        },
        Answer::NoData { .. } => match service.port() {
            PortSpec::Number(port) => {
                let known = HashMap::new();
                address::peers(dns, service, &scope, *port, &known, Vec::new(), concurrency).await
            }
            PortSpec::Any => Err(Error::PortRequired {
                service: service.domain_name(),
            }),
            PortSpec::Named { .. } => Err(Error::NoSrvRecords {
                query: srv_name.to_ascii(),
                service: service.domain_name(),
            }),
        },
    }
}

/// `_name._tcp.svc` is NXDOMAIN: either the Service has no ready pod (its own name is
/// NXDOMAIN too) or it has no port of that name.
async fn no_such_port_or_no_pods(
    dns: &DnsClient,
    service: &HeadlessService,
    port: &str,
    negative_ttl: Option<Duration>,
) -> Result<Resolution> {
    let name = service.address_query()?;
    for rtype in [RecordType::A, RecordType::AAAA] {
        match dns.query(&name, rtype).await? {
            Answer::NxDomain { .. } => return Ok(Resolution::NoReadyPods { ttl: negative_ttl }),
            Answer::Records { .. } => {
                return Err(Error::PortNotFound {
                    service: service.domain_name(),
                    port: port.to_owned(),
                });
            }
            Answer::NoData { .. } => continue,
        }
    }
    // The name exists with neither A nor AAAA: CoreDNS answers NXDOMAIN for a headless
    // Service without ready pods, so this is not an answer to act on.
    Err(contradiction(
        format!("{name} A/AAAA"),
        Contradiction::NoAddresses,
    ))
}

/// A contradictory answer to `query` (`name TYPE`), as an error.
fn contradiction(query: String, why: Contradiction) -> Error {
    Error::dns(query, DnsFailure::Contradictory(why))
}

/// The TTL to pace the next refresh by: the smallest seen, or a default.
pub(crate) fn ttl_or_default(ttl: Option<Duration>) -> Duration {
    ttl.unwrap_or(TTL_WHEN_UNKNOWN)
}
