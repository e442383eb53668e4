//! What a Redis server says it is: `ROLE` and `INFO replication`, parsed.

use std::time::Duration;

use headless_discovery::Peer;
use headless_discovery::roles::{self, Lag, Report, Unfit};
use redis::Value;

/// The role a server reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// `master`: accepts writes.
    Master,
    /// `slave`/`replica`: follows a master, read-only.
    Replica,
    /// A Sentinel, not a data node.
    Sentinel,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Master => "master",
            Role::Replica => "replica",
            Role::Sentinel => "sentinel",
        })
    }
}

/// A replica as its master announces it (address as configured by `replica-announce-ip`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AnnouncedReplica {
    /// The announced host: an IP, or a name such as the pod FQDN.
    pub host: String,
    /// The announced port.
    pub port: u16,
    /// The replication offset the replica last acknowledged.
    pub offset: Option<u64>,
    /// Seconds since the replica's last acknowledgement (`INFO` `lag=`).
    pub lag_seconds: Option<u64>,
}

/// Everything one probe learned about one server's replication state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RoleReport {
    /// The role.
    pub role: Role,
    /// Master: its replication offset. Replica: the offset it has processed.
    pub offset: Option<u64>,
    /// Replica: the master it follows, as configured (`master_host`).
    pub master_host: Option<String>,
    /// Replica: the master's port.
    pub master_port: Option<u16>,
    /// Replica: whether its link to the master is up (`master_link_status:up`, or the
    /// `ROLE` state `connected`).
    pub link_up: Option<bool>,
    /// Replica: seconds since it last heard from its master.
    pub last_io_seconds: Option<u64>,
    /// Master: the replicas it serves.
    pub replicas: Vec<AnnouncedReplica>,
    /// Whether the server is loading its dataset (`LOADING`): it cannot serve yet.
    pub loading: bool,
    /// The replication history its offsets count in (`master_replid`): a master's own,
    /// a replica's master's. Offsets compare only under the same id.
    pub replid: Option<String>,
    /// The history it came from before its last promotion (`master_replid2`), valid
    /// below [`second_repl_offset`](Self::second_repl_offset).
    pub replid2: Option<String>,
    /// Where the `replid2` history ends (`second_repl_offset`; `-1`, none, reads as
    /// `None`).
    pub second_repl_offset: Option<u64>,
}

impl RoleReport {
    /// A report of `role` with nothing else known yet.
    fn bare(role: Role) -> Self {
        Self {
            role,
            offset: None,
            master_host: None,
            master_port: None,
            link_up: None,
            last_io_seconds: None,
            replicas: Vec::new(),
            loading: false,
            replid: None,
            replid2: None,
            second_repl_offset: None,
        }
    }

    /// Reads a `ROLE` reply, completed by `INFO replication` when given.
    pub(crate) fn from_role(role: &Value, info: Option<&str>) -> Option<Self> {
        let mut report = parse_role(role)?;
        if let Some(info) = info {
            report.complete_from_info(&parse_info(info));
        }
        Some(report)
    }

    /// Reads a `ROLE` reply alone.
    pub(crate) fn from_role_reply(role: &Value) -> Option<Self> {
        parse_role(role)
    }

    /// Reads `INFO replication` alone (for users whose ACL denies `ROLE`).
    pub(crate) fn from_info(info: &str) -> Option<Self> {
        let fields = parse_info(info);
        let role = match fields.get("role")?.as_str() {
            "master" => Role::Master,
            "slave" | "replica" => Role::Replica,
            _ => return None,
        };
        let mut report = RoleReport::bare(role);
        report.complete_from_info(&fields);
        Some(report)
    }

    fn complete_from_info(&mut self, info: &Info) {
        let number = |key: &str| info.get(key).and_then(|v| v.parse::<u64>().ok());
        match self.role {
            Role::Master => {
                self.offset = self.offset.or_else(|| number("master_repl_offset"));
                let announced: Vec<AnnouncedReplica> = info
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with("slave")
                            && k[5..].bytes().all(|b| b.is_ascii_digit())
                            && k.len() > 5
                    })
                    .filter_map(|(_, v)| parse_replica_line(v))
                    .collect();
                if !announced.is_empty() {
                    // INFO has the lag; prefer its list over ROLE's (same replicas, more detail).
                    self.replicas = announced;
                }
            }
            Role::Replica => {
                self.master_host = self
                    .master_host
                    .take()
                    .or_else(|| info.get("master_host").cloned());
                self.master_port = self
                    .master_port
                    .or_else(|| info.get("master_port").and_then(|p| p.parse().ok()));
                if let Some(status) = info.get("master_link_status") {
                    self.link_up = Some(status == "up");
                }
                self.last_io_seconds = number("master_last_io_seconds_ago");
                self.offset = number("slave_repl_offset").or(self.offset);
                self.loading = number("master_sync_in_progress") == Some(1) || self.loading;
            }
            Role::Sentinel => {}
        }
        if number("loading") == Some(1) {
            self.loading = true;
        }
        // 40 hex digits; all zeros means no history (a replica before its first sync).
        let id = |key: &str| {
            info.get(key)
                .filter(|id| !id.is_empty() && id.bytes().any(|b| b != b'0'))
                .cloned()
        };
        self.replid = id("master_replid");
        self.replid2 = id("master_replid2");
        self.second_repl_offset = number("second_repl_offset");
    }
}

type Info = std::collections::BTreeMap<String, String>;

/// `key:value` lines of an INFO section.
fn parse_info(text: &str) -> Info {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `ip=10.0.0.2,port=6379,state=online,offset=1234,lag=0`
fn parse_replica_line(line: &str) -> Option<AnnouncedReplica> {
    let fields: std::collections::HashMap<&str, &str> = line
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    Some(AnnouncedReplica {
        host: fields.get("ip")?.to_string(),
        port: fields.get("port")?.parse().ok()?,
        offset: fields.get("offset").and_then(|o| o.parse().ok()),
        lag_seconds: fields.get("lag").and_then(|l| l.parse().ok()),
    })
}

/// `ROLE`: `["master", offset, [[ip, "port", "offset"], …]]`,
/// `["slave", master_ip, port, state, offset]`, `["sentinel", [names]]`.
fn parse_role(value: &Value) -> Option<RoleReport> {
    let Value::Array(items) = value else {
        return None;
    };
    let kind = text(items.first()?)?;
    let mut report = RoleReport::bare(Role::Master);
    match kind.as_str() {
        "master" => {
            report.offset = items.get(1).and_then(integer);
            if let Some(Value::Array(replicas)) = items.get(2) {
                report.replicas = replicas
                    .iter()
                    .filter_map(|r| match r {
                        Value::Array(fields) => Some(AnnouncedReplica {
                            host: text(fields.first()?)?,
                            port: integer(fields.get(1)?)?.try_into().ok()?,
                            offset: fields.get(2).and_then(integer),
                            lag_seconds: None,
                        }),
                        _ => None,
                    })
                    .collect();
            }
        }
        "slave" | "replica" => {
            report.role = Role::Replica;
            report.master_host = items.get(1).and_then(text);
            report.master_port = items
                .get(2)
                .and_then(integer)
                .and_then(|p| p.try_into().ok());
            let state = items.get(3).and_then(text);
            report.link_up = state.as_deref().map(|s| s == "connected");
            report.loading = state.as_deref() == Some("sync");
            report.offset = items.get(4).and_then(integer);
        }
        "sentinel" => report.role = Role::Sentinel,
        _ => return None,
    }
    Some(report)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

impl Report for RoleReport {
    fn role(&self) -> roles::Role {
        match self.role {
            Role::Master => roles::Role::Leader,
            Role::Replica => roles::Role::Replica,
            Role::Sentinel => roles::Role::Other,
        }
    }

    fn follows(&self, leader: &Peer) -> bool {
        self.role == Role::Replica
            && announces(self.master_host.as_deref(), self.master_port, leader)
    }

    fn unfit(&self) -> Option<Unfit> {
        if self.loading {
            return Some(Unfit::Loading);
        }
        (self.role == Role::Replica && self.link_up == Some(false)).then_some(Unfit::LinkDown)
    }

    /// Bytes behind the master's offset, and seconds since the last acknowledgement the
    /// master saw (or since the replica last heard from it).
    fn lag(&self, me: &Peer, leader: Option<(&Self, &Peer)>) -> Lag {
        let Some((master, _)) = leader else {
            return Lag::default();
        };
        let bytes = match (master.offset, self.offset) {
            (Some(m), Some(r)) => Some(m.saturating_sub(r)),
            _ => None,
        };
        let acknowledged = master
            .replicas
            .iter()
            .find(|a| announces(Some(&a.host), Some(a.port), me))
            .and_then(|a| a.lag_seconds);
        let seconds = acknowledged.or(self.last_io_seconds);
        Lag::new(bytes, seconds.map(Duration::from_secs))
    }
}

/// Whether `host:port`, as a server announced it, names `peer`: by IP, FQDN or hostname.
/// Announced addresses are only ever matched against discovered pods, never dialled.
pub(crate) fn announces(host: Option<&str>, port: Option<u16>, peer: &Peer) -> bool {
    let Some(host) = host else {
        return false;
    };
    if port.is_some_and(|p| p != peer.port()) {
        return false;
    }
    peer.is_named(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn master_role_with_replicas() {
        let role = Value::Array(vec![
            bulk("master"),
            Value::Int(3129659),
            Value::Array(vec![
                Value::Array(vec![bulk("127.0.0.2"), bulk("6379"), bulk("3129242")]),
                Value::Array(vec![
                    bulk("redis-2.redis.default.svc.cluster.local"),
                    bulk("6379"),
                    bulk("3129543"),
                ]),
            ]),
        ]);
        let report = RoleReport::from_role(&role, None).expect("parses");
        assert_eq!(report.role, Role::Master);
        assert_eq!(report.offset, Some(3129659));
        assert_eq!(report.replicas.len(), 2);
        assert_eq!(
            report.replicas[1].host,
            "redis-2.redis.default.svc.cluster.local"
        );
        assert_eq!(report.replicas[0].offset, Some(3129242));
    }

    #[test]
    fn replica_role_completed_by_info() {
        let role = Value::Array(vec![
            bulk("slave"),
            bulk("127.0.0.1"),
            Value::Int(6379),
            bulk("connected"),
            Value::Int(3167038),
        ]);
        let info = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:7\r\nmaster_sync_in_progress:0\r\nslave_repl_offset:3167100\r\n";
        let report = RoleReport::from_role(&role, Some(info)).expect("parses");
        assert_eq!(report.role, Role::Replica);
        assert_eq!(report.master_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(report.master_port, Some(6379));
        assert_eq!(
            report.link_up,
            Some(false),
            "INFO's link status wins over ROLE's state"
        );
        assert_eq!(report.last_io_seconds, Some(7));
        assert_eq!(report.offset, Some(3167100));
    }

    #[test]
    fn info_alone_when_role_is_denied() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=10.0.0.9,port=6379,state=online,offset=42,lag=1\r\nmaster_repl_offset:50\r\n";
        let report = RoleReport::from_info(info).expect("parses");
        assert_eq!(report.role, Role::Master);
        assert_eq!(report.offset, Some(50));
        assert_eq!(
            report.replicas,
            [AnnouncedReplica {
                host: "10.0.0.9".into(),
                port: 6379,
                offset: Some(42),
                lag_seconds: Some(1)
            }]
        );
        assert!(RoleReport::from_info("# Replication\r\n").is_none());
    }

    #[test]
    fn garbage_is_not_a_role() {
        assert!(RoleReport::from_role(&Value::Nil, None).is_none());
        assert!(RoleReport::from_role(&Value::Array(vec![bulk("chef")]), None).is_none());
    }

    /// A RESP value of the shapes ROLE replies have, with arbitrary content.
    fn resp() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            prop::sample::select(vec![
                "master",
                "slave",
                "replica",
                "sentinel",
                "connected",
                "sync",
                "6379",
                "-1",
                ""
            ])
            .prop_map(bulk),
            ".{0,12}".prop_map(|s: String| Value::SimpleString(s)),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::BulkString),
            Just(Value::Nil),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop::collection::vec(inner, 0..6).prop_map(Value::Array)
        })
    }

    /// INFO text built from the fields the parser reads, with arbitrary values.
    fn info() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "role",
            "master_host",
            "master_port",
            "master_link_status",
            "slave_repl_offset",
            "master_repl_offset",
            "master_sync_in_progress",
            "loading",
            "slave0",
            "slave12",
            "slave",
            "slavex",
            "master_last_io_seconds_ago",
            "# Replication",
        ]);
        let value = prop_oneof![
            prop::sample::select(vec![
                "master",
                "slave",
                "up",
                "down",
                "1",
                "0",
                "ip=10.0.0.2,port=6379,state=online,offset=9,lag=0"
            ])
            .prop_map(str::to_owned),
            ".{0,24}",
        ];
        prop::collection::vec((key, value), 0..12).prop_map(|lines| {
            lines
                .into_iter()
                .map(|(k, v)| format!("{k}:{v}\r\n"))
                .collect()
        })
    }

    proptest::proptest! {
        /// Any reply, however odd, is read without panicking, and the same reply always
        /// reads the same way.
        #[test]
        fn role_and_info_replies_never_panic(role in resp(), info in proptest::option::of(info())) {
            let first = RoleReport::from_role(&role, info.as_deref());
            proptest::prop_assert_eq!(&first, &RoleReport::from_role(&role, info.as_deref()));
            if let Some(info) = &info {
                let alone = RoleReport::from_info(info);
                proptest::prop_assert_eq!(&alone, &RoleReport::from_info(info));
            }
        }
    }
}
