//! Peers from A/AAAA records when the Service publishes no SRV, named through PTR.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::srv::address_of;
use super::{Resolution, ttl_or_default};
use crate::dns::{Answer, DnsClient};
use crate::error::{DnsFailure, Error, Result};
use crate::name::HeadlessService;
use crate::peer::{Peer, PeerSet, dashed_ip};

/// Asks A and AAAA for the Service name, then PTR for each address not in `known` to
/// learn the pod's name under this Service (`redis-0.redis.ns.svc...`). An address
/// without such a PTR gets the dashed-IP name CoreDNS would give it, and no ordinal.
pub(super) async fn peers(
    dns: &DnsClient,
    service: &HeadlessService,
    port: u16,
    known: &HashMap<IpAddr, String>,
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
                return Err(Error::dns(format!("{name} A/AAAA"), DnsFailure::Truncated));
            }
            addresses.extend(records.iter().filter_map(address_of).map(|(ip, _)| ip));
        }
    }
    addresses.sort_unstable();
    addresses.dedup();

    let suffix = format!(".{}", service.domain_name());
    let mut peers = Vec::with_capacity(addresses.len());
    let mut unnamed = Vec::new();
    for ip in addresses {
        match known.get(&ip) {
            Some(fqdn) => peers.push(Peer::new(fqdn, SocketAddr::new(ip, port))),
            None => unnamed.push(ip),
        }
    }
    let named: Vec<(Peer, Option<Duration>)> = futures::stream::iter(unnamed)
        .map(|ip| name_address(dns, ip, port, &suffix))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    for (peer, ptr_ttl) in named {
        ttl = match (ttl, ptr_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        peers.push(peer);
    }
    Ok(Resolution::Peers {
        peers: PeerSet::new(peers),
        ttl: ttl_or_default(ttl),
    })
}

/// Names one address from its PTR records: the name under this Service if there is one
/// (CoreDNS publishes one PTR per Service that selects the pod), else the dashed IP.
///
/// A PTR that does not exist, or a server without reverse zones (NXDOMAIN, NODATA), just
/// means "no name"; a failing server fails the resolution, so that a pod is never renamed
/// back and forth by a flaky reverse lookup.
async fn name_address(
    dns: &DnsClient,
    ip: IpAddr,
    port: u16,
    suffix: &str,
) -> Result<(Peer, Option<Duration>)> {
    let addr = SocketAddr::new(ip, port);
    let reverse = Name::from(ip);
    let answer = dns.query(&reverse, RecordType::PTR).await?;
    let ttl = answer.ttl();
    if let Answer::Records { records, .. } = &answer {
        let under_service = records.iter().find_map(|r| match &r.data {
            RData::PTR(ptr) => {
                let name = ptr.0.to_lowercase().to_ascii();
                let trimmed = name.trim_end_matches('.');
                let hostname = trimmed.strip_suffix(suffix)?;
                (!hostname.is_empty() && !hostname.contains('.')).then(|| trimmed.to_owned())
            }
            _ => None,
        });
        if let Some(fqdn) = under_service {
            return Ok((Peer::new(&fqdn, addr), ttl));
        }
    }
    let fqdn = format!("{}{suffix}", dashed_ip(ip));
    Ok((Peer::new(&fqdn, addr), ttl))
}
