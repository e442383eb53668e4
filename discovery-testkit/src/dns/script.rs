//! Replies a test writes itself, for names the DNS server should lie about.
//!
//! CoreDNS never sends these; a hostile or broken server can. A scripted reply replaces
//! the zone's answer for one question (name and type), every other question is answered
//! as before.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV};
use hickory_server::proto::rr::{Name, RData, Record};

use crate::Error;

/// What the DNS server sends back for one scripted question.
///
/// ```
/// use headless_discovery_testkit::{ScriptedRecord, ScriptedReply};
///
/// // An SRV answer naming a pod of another namespace, with glue.
/// let lie = ScriptedReply::records([ScriptedRecord::srv(
///     "_redis._tcp.redis.cache.svc.cluster.local",
///     6379,
///     "redis-0.redis.kube-system.svc.cluster.local",
/// )])
/// .with_additional(ScriptedRecord::a("redis-0.redis.kube-system.svc.cluster.local", [127, 9, 9, 9]));
/// assert_eq!(lie.rcode(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptedReply {
    rcode: u16,
    truncated: bool,
    answers: Vec<ScriptedRecord>,
    additionals: Vec<ScriptedRecord>,
}

impl ScriptedReply {
    /// NOERROR with these records in the Answer section.
    pub fn records(answers: impl IntoIterator<Item = ScriptedRecord>) -> Self {
        Self {
            answers: answers.into_iter().collect(),
            ..Self::default()
        }
    }

    /// NOERROR with no record: NODATA (without the SOA a real server would add).
    pub fn nodata() -> Self {
        Self::default()
    }

    /// Sends this response code instead (0 to 15: NXDOMAIN is 3, 11 and 15 are codes no
    /// server should send), records included.
    #[must_use]
    pub fn with_rcode(mut self, rcode: u16) -> Self {
        self.rcode = rcode;
        self
    }

    /// Sets the TC bit (over UDP and TCP alike), as a server does when records were left out.
    #[must_use]
    pub fn truncated(mut self) -> Self {
        self.truncated = true;
        self
    }

    /// Adds a record to the Additional section (glue).
    #[must_use]
    pub fn with_additional(mut self, record: ScriptedRecord) -> Self {
        self.additionals.push(record);
        self
    }

    /// The response code.
    pub fn rcode(&self) -> u16 {
        self.rcode
    }

    /// Whether the TC bit is set.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The Answer and Additional sections as DNS records with `ttl`.
    pub(crate) fn sections(&self, ttl: u32) -> Result<(Vec<Record>, Vec<Record>), Error> {
        let build = |records: &[ScriptedRecord]| {
            records
                .iter()
                .map(|r| r.to_record(ttl))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok((build(&self.answers)?, build(&self.additionals)?))
    }
}

/// One record of a [`ScriptedReply`]. Names are written as in a zone file, relative
/// names taken as absolute; `\.` escapes a dot inside a label.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptedRecord {
    /// An SRV record: priority 0, weight 100.
    Srv {
        /// The owner name.
        name: String,
        /// The port.
        port: u16,
        /// The target (`.` for "no service").
        target: String,
    },
    /// An A or AAAA record, by the address's family.
    Address {
        /// The owner name.
        name: String,
        /// The address.
        ip: IpAddr,
    },
    /// A PTR record.
    Ptr {
        /// The owner name (`d.c.b.a.in-addr.arpa`; see [`ScriptedRecord::ptr_for`]).
        name: String,
        /// The name it points to.
        target: String,
    },
    /// A CNAME record.
    Cname {
        /// The owner name.
        name: String,
        /// The canonical name.
        target: String,
    },
}

impl ScriptedRecord {
    /// An SRV record.
    pub fn srv(name: &str, port: u16, target: &str) -> Self {
        Self::Srv {
            name: name.to_owned(),
            port,
            target: target.to_owned(),
        }
    }

    /// An A record.
    pub fn a(name: &str, ip: impl Into<Ipv4Addr>) -> Self {
        Self::Address {
            name: name.to_owned(),
            ip: IpAddr::V4(ip.into()),
        }
    }

    /// An AAAA record.
    pub fn aaaa(name: &str, ip: impl Into<Ipv6Addr>) -> Self {
        Self::Address {
            name: name.to_owned(),
            ip: IpAddr::V6(ip.into()),
        }
    }

    /// The PTR record of `ip` (its reverse name) pointing to `target`.
    pub fn ptr_for(ip: IpAddr, target: &str) -> Self {
        Self::Ptr {
            name: Self::reverse_name(ip),
            target: target.to_owned(),
        }
    }

    /// The name PTR queries for `ip` ask: `d.c.b.a.in-addr.arpa.` or the `ip6.arpa.` form.
    pub fn reverse_name(ip: IpAddr) -> String {
        Name::from(ip).to_ascii()
    }

    /// A CNAME record.
    pub fn cname(name: &str, target: &str) -> Self {
        Self::Cname {
            name: name.to_owned(),
            target: target.to_owned(),
        }
    }

    fn to_record(&self, ttl: u32) -> Result<Record, Error> {
        let (name, data) = match self {
            Self::Srv { name, port, target } => {
                (name, RData::SRV(SRV::new(0, 100, *port, absolute(target)?)))
            }
            Self::Address {
                name,
                ip: IpAddr::V4(v4),
            } => (name, RData::A(A(*v4))),
            Self::Address {
                name,
                ip: IpAddr::V6(v6),
            } => (name, RData::AAAA(AAAA(*v6))),
            Self::Ptr { name, target } => (name, RData::PTR(PTR(absolute(target)?))),
            Self::Cname { name, target } => (name, RData::CNAME(CNAME(absolute(target)?))),
        };
        Ok(Record::from_rdata(absolute(name)?, ttl, data))
    }
}

/// `name` as an absolute DNS name (lower-cased, as questions are matched).
pub(crate) fn absolute(name: &str) -> Result<Name, Error> {
    if name == "." {
        return Ok(Name::root());
    }
    let absolute = if name.ends_with('.') && !name.ends_with("\\.") {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(&absolute)
        .or_else(|_| {
            // Labels a zone file would refuse (`-redis`) still go on the wire as raw
            // bytes, as a hostile server sends them.
            Name::from_labels(
                absolute
                    .split('.')
                    .filter(|l| !l.is_empty())
                    .map(str::as_bytes),
            )
        })
        .map(|n| n.to_lowercase())
        .map_err(|e| Error::Spec(format!("`{name}` is not a DNS name: {e}")))
}
