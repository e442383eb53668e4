//! The answers CoreDNS's `kubernetes` plugin gives for headless Services.
//!
//! Checked against kubernetes/dns `docs/specification.md` and CoreDNS
//! `plugin/kubernetes` + `plugin/backend_lookup.go`:
//!
//! - `<svc>.<ns>.svc.<zone>` A/AAAA: one record per ready endpoint; NXDOMAIN when none is
//!   ready; NODATA for a family the Service has no endpoint of.
//! - `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV: one record per ready endpoint, priority 0,
//!   weight `floor(100 / n)`, target `<hostname>.<svc>...`, glue A/AAAA in Additional;
//!   NXDOMAIN for a port name the Service lacks.
//! - `<svc>.<ns>.svc.<zone>` SRV: every endpoint × every port (port and protocol act as
//!   wildcards).
//! - `<hostname>.<svc>.<ns>.svc.<zone>`: the endpoint's own A/AAAA, and SRV for its ports.
//! - PTR for each endpoint address, to its name under the Service.
//! - Negative answers carry `<zone> SOA ns.dns.<zone> hostmaster.<zone> … <ttl>`, so the
//!   negative-cache TTL equals the record TTL. Names outside the zones are REFUSED.

use std::net::IpAddr;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, PTR, SOA, SRV};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use crate::model::{Endpoint, SetState};

/// What to send back for one question.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub(crate) code: ResponseCode,
    pub(crate) answers: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
    pub(crate) soa: Vec<Record>,
}

/// The zone's view: everything an answer depends on.
#[derive(Debug)]
pub(crate) struct Zone<'a> {
    pub(crate) domain: &'a Name,
    pub(crate) ttl: u32,
    pub(crate) serial: u32,
    pub(crate) sets: &'a [SetState],
}

impl Zone<'_> {
    pub(crate) fn answer(&self, qname: &Name, qtype: RecordType) -> Reply {
        let qname = qname.to_lowercase();
        if is_reverse(&qname) {
            return self.reverse(&qname, qtype);
        }
        if !self.domain.zone_of(&qname) {
            return Reply {
                code: ResponseCode::Refused,
                ..Reply::default()
            };
        }
        let labels: Vec<String> = qname
            .iter()
            .take(qname.num_labels() as usize - self.domain.num_labels() as usize)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        match labels.as_slice() {
            [] => self.apex(qtype),
            ["svc"] | [_, "svc"] => self.nodata(),
            [svc, ns, "svc"] => self.service(&qname, qtype, svc, ns),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                self.named_port(&qname, qtype, &port[1..], &proto[1..], svc, ns)
            }
            [host, svc, ns, "svc"] => self.pod(&qname, qtype, host, svc, ns),
            _ => self.nxdomain(),
        }
    }

    fn service(&self, qname: &Name, qtype: RecordType, svc: &str, ns: &str) -> Reply {
        self.endpoint_records(qname, qtype, &self.endpoints(svc, ns))
    }

    /// A name that stands for `endpoints` (a Service, or one pod): their addresses, SRV for
    /// all their ports, NXDOMAIN when there is none.
    fn endpoint_records(
        &self,
        qname: &Name,
        qtype: RecordType,
        endpoints: &[(&SetState, Endpoint)],
    ) -> Reply {
        if endpoints.is_empty() {
            return self.nxdomain();
        }
        match qtype {
            RecordType::A | RecordType::AAAA => self.addresses(qname, qtype, endpoints),
            RecordType::SRV => self.srv(qname, endpoints, |_| true),
            _ => self.nodata(),
        }
    }

    fn named_port(
        &self,
        qname: &Name,
        qtype: RecordType,
        port: &str,
        proto: &str,
        svc: &str,
        ns: &str,
    ) -> Reply {
        let endpoints = self.endpoints(svc, ns);
        let has_port = endpoints.iter().any(|(set, _)| {
            set.spec
                .ports
                .iter()
                .any(|p| p.name.as_deref() == Some(port) && p.protocol == proto)
        });
        if endpoints.is_empty() || !has_port {
            return self.nxdomain();
        }
        if qtype != RecordType::SRV {
            return self.nodata();
        }
        self.srv(qname, &endpoints, |p| {
            p.name.as_deref() == Some(port) && p.protocol == proto
        })
    }

    fn pod(&self, qname: &Name, qtype: RecordType, host: &str, svc: &str, ns: &str) -> Reply {
        let endpoints: Vec<_> = self
            .endpoints(svc, ns)
            .into_iter()
            .filter(|(_, e)| e.hostname == host)
            .collect();
        self.endpoint_records(qname, qtype, &endpoints)
    }

    fn addresses(
        &self,
        qname: &Name,
        qtype: RecordType,
        endpoints: &[(&SetState, Endpoint)],
    ) -> Reply {
        let answers: Vec<Record> = endpoints
            .iter()
            .map(|(_, e)| address_record(qname.clone(), self.ttl, e.ip))
            .filter(|r| r.record_type() == qtype)
            .collect();
        if answers.is_empty() {
            return self.nodata();
        }
        Reply {
            answers,
            ..Reply::default()
        }
    }

    /// SRV records over `endpoints` × the ports `wanted` keeps, with glue.
    fn srv(
        &self,
        qname: &Name,
        endpoints: &[(&SetState, Endpoint)],
        wanted: impl Fn(&crate::model::ServicePort) -> bool,
    ) -> Reply {
        let mut targets = Vec::new();
        for (set, endpoint) in endpoints {
            let target = self.endpoint_name(set, endpoint);
            for port in set.spec.ports.iter().filter(|p| wanted(p)) {
                targets.push((target.clone(), port.port, endpoint.ip));
            }
        }
        if targets.is_empty() {
            return self.nodata();
        }
        // CoreDNS: weight = floor(100 / records of this priority), at least 1.
        let weight = u16::try_from((100 / targets.len()).max(1)).unwrap_or(1);
        let mut reply = Reply::default();
        for (target, port, ip) in targets {
            reply.answers.push(Record::from_rdata(
                qname.clone(),
                self.ttl,
                RData::SRV(SRV::new(0, weight, port, target.clone())),
            ));
            let glue = address_record(target, self.ttl, ip);
            if !reply.additionals.contains(&glue) {
                reply.additionals.push(glue);
            }
        }
        reply
    }

    fn reverse(&self, qname: &Name, qtype: RecordType) -> Reply {
        let Some(ip) = qname
            .parse_arpa_name()
            .ok()
            .filter(|net| net.prefix_len() == net.max_prefix_len())
            .map(|net| net.addr())
        else {
            return self.nxdomain();
        };
        let names: Vec<Name> = self
            .sets
            .iter()
            .flat_map(|set| {
                set.endpoints()
                    .filter(move |e| e.ip == ip)
                    .map(move |e| self.endpoint_name(set, &e))
            })
            .collect();
        if names.is_empty() {
            return self.nxdomain();
        }
        if qtype != RecordType::PTR {
            return self.nodata();
        }
        Reply {
            answers: names
                .into_iter()
                .map(|n| Record::from_rdata(qname.clone(), self.ttl, RData::PTR(PTR(n))))
                .collect(),
            ..Reply::default()
        }
    }

    fn apex(&self, qtype: RecordType) -> Reply {
        if qtype == RecordType::SOA {
            return Reply {
                answers: vec![self.soa_record()],
                ..Reply::default()
            };
        }
        self.nodata()
    }

    /// Ready endpoints of every StatefulSet governed by Service `svc` in `ns`.
    fn endpoints(&self, svc: &str, ns: &str) -> Vec<(&SetState, Endpoint)> {
        self.sets
            .iter()
            .filter(|s| s.spec.service == svc && s.spec.namespace == ns)
            .flat_map(|s| s.endpoints().map(move |e| (s, e)))
            .collect()
    }

    fn endpoint_name(&self, set: &SetState, endpoint: &Endpoint) -> Name {
        let text = format!(
            "{}.{}.{}.svc.{}",
            endpoint.hostname,
            set.spec.service,
            set.spec.namespace,
            self.domain.to_ascii()
        );
        Name::from_ascii(&text).unwrap_or_else(|_| self.domain.clone())
    }

    fn soa_record(&self) -> Record {
        let domain = self.domain.to_ascii();
        let soa = SOA::new(
            Name::from_ascii(format!("ns.dns.{domain}")).unwrap_or_else(|_| self.domain.clone()),
            Name::from_ascii(format!("hostmaster.{domain}"))
                .unwrap_or_else(|_| self.domain.clone()),
            self.serial,
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(self.domain.clone(), self.ttl.min(300), RData::SOA(soa))
    }

    fn nxdomain(&self) -> Reply {
        Reply {
            code: ResponseCode::NXDomain,
            soa: vec![self.soa_record()],
            ..Reply::default()
        }
    }

    fn nodata(&self) -> Reply {
        Reply {
            soa: vec![self.soa_record()],
            ..Reply::default()
        }
    }
}

fn is_reverse(name: &Name) -> bool {
    let text = name.to_ascii();
    text.ends_with(".in-addr.arpa.") || text.ends_with(".ip6.arpa.")
}

fn address_record(name: Name, ttl: u32, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name, ttl, data)
}
