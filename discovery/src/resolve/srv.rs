//! Peers from an SRV answer, with addresses from its glue.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hickory_resolver::proto::rr::rdata::SRV;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use super::{Resolution, ttl_or_default};
use crate::dns::{Answer, DnsClient};
use crate::error::{Error, Result};
use crate::name::{HeadlessService, PortSpec};
use crate::peer::{Peer, PeerSet};

/// An SRV answer, read: the records, the port to use, and the glue by name.
pub(super) struct SrvAnswer<'a> {
    srvs: Vec<(&'a SRV, u32)>,
    port: Option<u16>,
    glue: HashMap<Name, Vec<(IpAddr, u32)>>,
}

impl<'a> SrvAnswer<'a> {
    /// Reads the records; fails if no port was asked and the Service publishes several.
    pub(super) fn new(
        service: &HeadlessService,
        records: &'a [Record],
        additionals: &[Record],
    ) -> Result<Self> {
        let srvs: Vec<(&SRV, u32)> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(srv) if !srv.target.is_root() => Some((srv, r.ttl)),
                _ => None,
            })
            .collect();
        let port = chosen_port(service, &srvs)?;
        Ok(Self {
            srvs,
            port,
            glue: glue_by_name(additionals),
        })
    }

    /// One entry per target, in answer order, with its port; a pod with several ports once.
    fn targets(&self) -> Vec<(Name, u16)> {
        let mut seen = HashSet::with_capacity(self.srvs.len());
        let mut targets = Vec::with_capacity(self.srvs.len());
        for (srv, _) in &self.srvs {
            let target = srv.target.to_lowercase();
            if seen.insert(target.clone()) {
                targets.push((target, self.port.unwrap_or(srv.port)));
            }
        }
        targets
    }

    /// The port every pod serves on, for when peers are built from addresses.
    pub(super) fn port_for_all(&self) -> u16 {
        self.port
            .or_else(|| self.srvs.first().map(|(srv, _)| srv.port))
            .unwrap_or_default()
    }

    /// The names the glue gives to addresses.
    pub(super) fn names_by_ip(&self) -> HashMap<IpAddr, String> {
        self.glue
            .iter()
            .flat_map(|(name, addresses)| {
                addresses.iter().map(move |(ip, _)| (*ip, name.to_ascii()))
            })
            .collect()
    }

    /// Peers: one per target, addressed from the glue or, where it is missing, by looking
    /// the target up.
    pub(super) async fn peers(&self, dns: &DnsClient, concurrency: usize) -> Result<Resolution> {
        let mut ttl = self.srvs.iter().map(|(_, ttl)| *ttl).min();
        let mut peers = Vec::with_capacity(self.srvs.len());
        let mut missing = Vec::new();
        for (target, port) in self.targets() {
            match self
                .glue
                .get(&target)
                .and_then(|addresses| preferred(addresses))
            {
                Some((ip, glue_ttl)) => {
                    ttl = Some(ttl.map_or(glue_ttl, |t| t.min(glue_ttl)));
                    peers.push(Peer::new(&target.to_ascii(), SocketAddr::new(ip, port)));
                }
                None => missing.push((target, port)),
            }
        }

        let looked_up: Vec<Option<(Peer, u32)>> = futures::stream::iter(missing)
            .map(|(target, port)| lookup_target(dns, target, port))
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        for (peer, peer_ttl) in looked_up.into_iter().flatten() {
            ttl = Some(ttl.map_or(peer_ttl, |t| t.min(peer_ttl)));
            peers.push(peer);
        }

        Ok(Resolution::Peers {
            peers: PeerSet::new(peers),
            ttl: ttl_or_default(ttl.map(|s| Duration::from_secs(u64::from(s)))),
        })
    }
}

/// The port every peer gets: the asked number, the named port's own, or, for any port,
/// the single port the Service publishes (several is an error: which one is meant?).
fn chosen_port(service: &HeadlessService, srvs: &[(&SRV, u32)]) -> Result<Option<u16>> {
    match service.port() {
        PortSpec::Number(n) => Ok(Some(*n)),
        PortSpec::Named { .. } => Ok(None),
        PortSpec::Any => {
            let ports: BTreeSet<u16> = srvs.iter().map(|(srv, _)| srv.port).collect();
            if ports.len() > 1 {
                return Err(Error::AmbiguousPort {
                    service: service.domain_name(),
                    ports: ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            Ok(ports.first().copied())
        }
    }
}

/// A and AAAA records of the Additional section, by owner name.
fn glue_by_name(additionals: &[Record]) -> HashMap<Name, Vec<(IpAddr, u32)>> {
    let mut glue: HashMap<Name, Vec<(IpAddr, u32)>> = HashMap::new();
    for record in additionals {
        if let Some(address) = address_of(record) {
            glue.entry(record.name.to_lowercase())
                .or_default()
                .push(address);
        }
    }
    glue
}

/// The address and TTL of an A or AAAA record.
pub(super) fn address_of(record: &Record) -> Option<(IpAddr, u32)> {
    match &record.data {
        RData::A(a) => Some((IpAddr::V4(a.0), record.ttl)),
        RData::AAAA(aaaa) => Some((IpAddr::V6(aaaa.0), record.ttl)),
        _ => None,
    }
}

/// The address to use for a pod with several: IPv4 first (dual-stack clusters publish
/// both), then the first in the answer.
pub(super) fn preferred(addresses: &[(IpAddr, u32)]) -> Option<(IpAddr, u32)> {
    let ttl = addresses.iter().map(|(_, t)| *t).min()?;
    let ip = addresses
        .iter()
        .map(|(ip, _)| *ip)
        .find(IpAddr::is_ipv4)
        .or_else(|| addresses.first().map(|(ip, _)| *ip))?;
    Some((ip, ttl))
}

/// Looks up a target without glue. NXDOMAIN means the pod is gone since the SRV answer
/// was made (not an error: it is simply not a peer now).
async fn lookup_target(dns: &DnsClient, target: Name, port: u16) -> Result<Option<(Peer, u32)>> {
    for rtype in [RecordType::A, RecordType::AAAA] {
        match dns.query(&target, rtype).await? {
            Answer::Records { records, .. } => {
                let addresses: Vec<(IpAddr, u32)> = records.iter().filter_map(address_of).collect();
                if let Some((ip, ttl)) = preferred(&addresses) {
                    let peer = Peer::new(&target.to_ascii(), SocketAddr::new(ip, port));
                    return Ok(Some((peer, ttl)));
                }
            }
            Answer::NxDomain { .. } => return Ok(None),
            Answer::NoData { .. } => continue,
        }
    }
    Ok(None)
}
