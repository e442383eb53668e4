//! Peers from A/AAAA records when the Service publishes no SRV, named through PTR.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::scope::{Rejected, Scope, admit_ip};
use super::srv::address_of;
use super::{Resolution, contradiction, ttl_or_default};
use crate::dns::{Answer, DnsClient};
use crate::error::{Contradiction, DnsFailure, Error, Result};
use crate::name::HeadlessService;
use crate::peer::{Peer, PeerSet, dashed_ip};

/// Asks A and AAAA for the Service name, then PTR for each address not in `known` to
/// learn the pod's name under this Service (`redis-0.redis.ns.svc...`). An address
/// without such a PTR gets the dashed-IP name CoreDNS would give it, and no ordinal.
///
/// # Errors
///
/// DNS failures; [`Contradiction::NoAddresses`] when the name exists with neither A nor
/// AAAA records; [`DnsFailure::TooLarge`] when not even the addresses fit in a message.
pub(super) async fn peers(
    dns: &DnsClient,
    service: &HeadlessService,
    scope: &Scope,
    port: u16,
    known: &HashMap<IpAddr, String>,
    mut rejected: Vec<Rejected>,
    concurrency: usize,
) -> Result<Resolution> {
    let name = service.address_query()?;
    let (v4, v6) = futures::try_join!(
        dns.query(&name, RecordType::A),
        dns.query(&name, RecordType::AAAA)
    )?;
    if matches!(
        (&v4, &v6),
        (Answer::NxDomain { .. }, _) | (_, Answer::NxDomain { .. })
    ) {
        return Ok(Resolution::NoReadyPods {
            ttl: v4.ttl().or(v6.ttl()),
        });
    }

    let mut ttl = [v4.ttl(), v6.ttl()].into_iter().flatten().min();
    let mut addresses: Vec<IpAddr> = Vec::new();
    for answer in [&v4, &v6] {
        if let Answer::Records {
            records, complete, ..
        } = answer
        {
            if !complete {
                // Thousands of pods: not even the addresses fit in one message.
                let failure = DnsFailure::TooLarge {
                    records: records.len(),
                };
                return Err(Error::dns(format!("{name} A/AAAA"), failure));
            }
            addresses.extend(records.iter().filter_map(address_of).map(|(ip, _)| ip));
        }
    }
    addresses.retain(|ip| admit_ip(*ip, &mut rejected));
    addresses.sort_unstable();
    addresses.dedup();
    if addresses.is_empty() {
        return Err(contradiction(
            format!("{name} A/AAAA"),
            Contradiction::NoAddresses,
        ));
    }

    let mut peers = Vec::with_capacity(addresses.len());
    let mut unnamed = Vec::new();
    for ip in addresses {
        match known.get(&ip) {
            Some(fqdn) => peers.push(Peer::new(fqdn, SocketAddr::new(ip, port))),
            None => unnamed.push(ip),
        }
    }
    let suffix = service.domain_name();
    let named: Vec<Named> = futures::stream::iter(unnamed)
        .map(|ip| name_address(dns, scope, ip, port, &suffix))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    for named in named {
        ttl = match (ttl, named.ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        rejected.extend(named.rejected);
        peers.push(named.peer);
    }
    Ok(Resolution::Peers {
        peers: PeerSet::new(one_address_per_name(peers, &suffix)),
        ttl: ttl_or_default(ttl),
        rejected,
    })
}

/// Every address is a ready endpoint, so none is lost when PTR names two of them alike:
/// the lowest keeps the name, the others get their dashed-IP names (and no ordinal).
fn one_address_per_name(mut peers: Vec<Peer>, suffix: &str) -> Vec<Peer> {
    peers.sort_by(|a, b| a.fqdn().cmp(b.fqdn()).then(a.addr().cmp(&b.addr())));
    let mut previous: Option<String> = None;
    for peer in &mut peers {
        if previous.as_deref() == Some(peer.fqdn()) {
            let addr = peer.addr();
            *peer = Peer::new(&format!("{}.{suffix}", dashed_ip(addr.ip())), addr);
        } else {
            previous = Some(peer.fqdn().to_owned());
        }
    }
    peers
}

/// One address with the name its PTR records gave it.
struct Named {
    peer: Peer,
    ttl: Option<Duration>,
    rejected: Vec<Rejected>,
}

/// Names one address from its PTR records: the lowest name under this Service if there
/// is one (CoreDNS publishes one PTR per Service that selects the pod), else the dashed IP.
/// PTR names outside the Service are reported as rejected.
///
/// A PTR that does not exist, or a server without reverse zones (NXDOMAIN, NODATA), just
/// means "no name"; a failing server fails the resolution, so that a pod is never renamed
/// back and forth by a flaky reverse lookup.
async fn name_address(
    dns: &DnsClient,
    scope: &Scope,
    ip: IpAddr,
    port: u16,
    suffix: &str,
) -> Result<Named> {
    let addr = SocketAddr::new(ip, port);
    let reverse = Name::from(ip);
    let answer = dns.query(&reverse, RecordType::PTR).await?;
    let ttl = answer.ttl();
    let mut rejected = Vec::new();
    let mut under_service: Vec<String> = Vec::new();
    if let Answer::Records { records, .. } = &answer {
        for record in records {
            if let RData::PTR(ptr) = &record.data
                && let Some(fqdn) = scope.admit(&ptr.0, &mut rejected)
            {
                under_service.push(fqdn);
            }
        }
    }
    let fqdn = under_service
        .into_iter()
        .min()
        .unwrap_or_else(|| format!("{}.{suffix}", dashed_ip(ip)));
    Ok(Named {
        peer: Peer::new(&fqdn, addr),
        ttl,
        rejected,
    })
}
