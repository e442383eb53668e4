//! Peers from an SRV answer, with addresses from its glue.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hickory_resolver::proto::rr::rdata::SRV;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use super::scope::{Rejected, Rejection, Scope, admit_ip};
use super::{Resolution, contradiction, ttl_or_default};
use crate::dns::{Answer, DnsClient};
use crate::error::{Contradiction, Error, Result};
use crate::name::{HeadlessService, PortSpec};
use crate::peer::{Peer, PeerSet};

/// An SRV answer, read: the records that name this Service's pods, the port to use, and
/// the glue by name.
pub(super) struct SrvAnswer<'a> {
    /// The query, for errors.
    query: String,
    /// Each usable record with the pod's FQDN and the record's TTL.
    srvs: Vec<(&'a SRV, String, u32)>,
    port: Option<u16>,
    glue: HashMap<Name, Vec<(IpAddr, u32)>>,
}

impl<'a> SrvAnswer<'a> {
    /// Reads the records, dropping into `rejected` those that name no pod of this Service.
    ///
    /// # Errors
    ///
    /// No usable record is left ([`Contradiction::NoUsableRecord`]), or no port was asked
    /// and the Service publishes several.
    pub(super) fn new(
        service: &HeadlessService,
        srv_name: &Name,
        scope: &Scope,
        records: &'a [Record],
        additionals: &[Record],
        rejected: &mut Vec<Rejected>,
    ) -> Result<Self> {
        let before = rejected.len();
        let mut srvs = Vec::with_capacity(records.len());
        for record in records {
            let RData::SRV(srv) = &record.data else {
                continue;
            };
            let refuse = |reason| Rejected {
                name: srv.target.to_ascii(),
                reason,
            };
            if srv.target.is_root() {
                rejected.push(refuse(Rejection::NoTarget));
            } else if srv.port == 0 {
                rejected.push(refuse(Rejection::PortZero));
            } else if let Some(fqdn) = scope.admit(&srv.target, rejected) {
                srvs.push((srv, fqdn, record.ttl));
            }
        }
        let query = format!("{srv_name} SRV");
        if srvs.is_empty() {
            return Err(contradiction(
                query,
                Contradiction::NoUsableRecord {
                    rejected: rejected.len() - before,
                },
            ));
        }
        let port = chosen_port(service, &srvs)?;
        Ok(Self {
            query,
            srvs,
            port,
            glue: glue_by_name(additionals, rejected),
        })
    }

    /// One entry per target, in answer order, with its FQDN and port; a pod with several
    /// ports once.
    fn targets(&self) -> Vec<(Name, &str, u16)> {
        let mut seen = HashSet::with_capacity(self.srvs.len());
        let mut targets = Vec::with_capacity(self.srvs.len());
        for (srv, fqdn, _) in &self.srvs {
            if seen.insert(fqdn.as_str()) {
                targets.push((
                    srv.target.to_lowercase(),
                    fqdn.as_str(),
                    self.port.unwrap_or(srv.port),
                ));
            }
        }
        targets
    }

    /// The port every pod serves on, for when peers are built from addresses.
    pub(super) fn port_for_all(&self) -> u16 {
        self.port
            .or_else(|| self.srvs.first().map(|(srv, _, _)| srv.port))
            .unwrap_or_default()
    }

    /// The pod names the glue gives to addresses (of targets that passed the scope).
    pub(super) fn names_by_ip(&self) -> HashMap<IpAddr, String> {
        self.targets()
            .into_iter()
            .filter_map(|(target, fqdn, _)| Some((self.glue.get(&target)?, fqdn)))
            .flat_map(|(addresses, fqdn)| {
                addresses.iter().map(move |(ip, _)| (*ip, fqdn.to_owned()))
            })
            .collect()
    }

    /// Peers: one per target, addressed from the glue or, where it is missing, by looking
    /// the target up.
    ///
    /// # Errors
    ///
    /// DNS failures, and [`Contradiction::TargetsWithoutAddress`] when a pod the SRV
    /// records name has no address of its own (NODATA), or none of them exists any more.
    pub(super) async fn peers(
        &self,
        dns: &DnsClient,
        mut rejected: Vec<Rejected>,
        concurrency: usize,
    ) -> Result<Resolution> {
        let mut ttl = self.srvs.iter().map(|(_, _, ttl)| *ttl).min();
        let mut peers = Vec::with_capacity(self.srvs.len());
        let mut missing = Vec::new();
        for (target, fqdn, port) in self.targets() {
            match self
                .glue
                .get(&target)
                .and_then(|addresses| preferred(addresses))
            {
                Some((ip, glue_ttl)) => {
                    ttl = Some(ttl.map_or(glue_ttl, |t| t.min(glue_ttl)));
                    peers.push(Peer::new(fqdn, SocketAddr::new(ip, port)));
                }
                None => missing.push((target, fqdn.to_owned(), port)),
            }
        }

        let looked_up: Vec<(String, Lookup)> = futures::stream::iter(missing)
            .map(|(target, fqdn, port)| async move {
                lookup_target(dns, &target, &fqdn, port)
                    .await
                    .map(|found| (fqdn, found))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        let mut without_address = Vec::new();
        for (fqdn, found) in looked_up {
            match found {
                Lookup::Found {
                    peer,
                    ttl: peer_ttl,
                    rejected: bad,
                } => {
                    ttl = Some(ttl.map_or(peer_ttl, |t| t.min(peer_ttl)));
                    rejected.extend(bad);
                    peers.push(peer);
                }
                // Removed since the SRV answer was made: simply not a peer now.
                Lookup::Gone => {}
                Lookup::NoAddress { rejected: bad } => {
                    rejected.extend(bad);
                    without_address.push(fqdn);
                }
            }
        }
        if !without_address.is_empty() || peers.is_empty() {
            without_address.sort();
            return Err(contradiction(
                self.query.clone(),
                Contradiction::TargetsWithoutAddress {
                    targets: if without_address.is_empty() {
                        self.targets()
                            .iter()
                            .map(|(_, fqdn, _)| (*fqdn).to_owned())
                            .collect()
                    } else {
                        without_address
                    },
                },
            ));
        }

        Ok(Resolution::Peers {
            peers: PeerSet::new(peers),
            ttl: ttl_or_default(ttl.map(|s| Duration::from_secs(u64::from(s)))),
            rejected,
        })
    }
}

/// The port every peer gets: the asked number, the named port's own, or, for any port,
/// the single port the Service publishes (several is an error: which one is meant?).
fn chosen_port(service: &HeadlessService, srvs: &[(&SRV, String, u32)]) -> Result<Option<u16>> {
    match service.port() {
        PortSpec::Number(n) => Ok(Some(*n)),
        PortSpec::Named { .. } => Ok(None),
        PortSpec::Any => {
            let ports: BTreeSet<u16> = srvs.iter().map(|(srv, _, _)| srv.port).collect();
            if ports.len() > 1 {
                return Err(Error::AmbiguousPort {
                    service: service.domain_name(),
                    ports: ports.into_iter().collect(),
                });
            }
            Ok(ports.first().copied())
        }
    }
}

/// The usable A and AAAA records of the Additional section, by owner name.
fn glue_by_name(
    additionals: &[Record],
    rejected: &mut Vec<Rejected>,
) -> HashMap<Name, Vec<(IpAddr, u32)>> {
    let mut glue: HashMap<Name, Vec<(IpAddr, u32)>> = HashMap::new();
    for record in additionals {
        if let Some(address) = address_of(record)
            && admit_ip(address.0, rejected)
        {
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
/// both), then the lowest, so the same records always give the same address.
pub(super) fn preferred(addresses: &[(IpAddr, u32)]) -> Option<(IpAddr, u32)> {
    let ttl = addresses.iter().map(|(_, t)| *t).min()?;
    let ip = addresses
        .iter()
        .map(|(ip, _)| *ip)
        .min_by_key(|ip| (!ip.is_ipv4(), *ip))?;
    Some((ip, ttl))
}

/// What looking up one SRV target found.
enum Lookup {
    Found {
        peer: Peer,
        ttl: u32,
        rejected: Vec<Rejected>,
    },
    /// NXDOMAIN: the pod went away after the SRV answer was made.
    Gone,
    /// The name exists but has no usable address.
    NoAddress { rejected: Vec<Rejected> },
}

/// Looks up a target without glue.
async fn lookup_target(dns: &DnsClient, target: &Name, fqdn: &str, port: u16) -> Result<Lookup> {
    let mut rejected = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        match dns.query(target, rtype).await? {
            Answer::Records { records, .. } => {
                let addresses: Vec<(IpAddr, u32)> = records
                    .iter()
                    .filter_map(address_of)
                    .filter(|(ip, _)| admit_ip(*ip, &mut rejected))
                    .collect();
                if let Some((ip, ttl)) = preferred(&addresses) {
                    let peer = Peer::new(fqdn, SocketAddr::new(ip, port));
                    return Ok(Lookup::Found {
                        peer,
                        ttl,
                        rejected,
                    });
                }
            }
            Answer::NxDomain { .. } => return Ok(Lookup::Gone),
            Answer::NoData { .. } => continue,
        }
    }
    Ok(Lookup::NoAddress { rejected })
}
