//! The observed topology: every pod's role and health, and which pod is the master, as
//! the core's role engine keeps it for Redis reports.

use crate::role::RoleReport;

/// One pod as the last probe round saw it, with its `ROLE`/`INFO replication` report.
pub type PodStatus = headless_discovery::roles::PodStatus<RoleReport>;

/// One probe round's view of the StatefulSet.
pub type Topology = headless_discovery::roles::Topology<RoleReport>;

#[cfg(test)]
mod tests {
    use headless_discovery::Peer;

    use crate::role::announces;

    #[test]
    fn announced_names_match_by_ip_fqdn_or_hostname_and_port() {
        let peer = Peer::new(
            "redis-0.redis.default.svc.cluster.local",
            (std::net::Ipv4Addr::new(10, 0, 0, 1), 6379).into(),
        );
        assert!(announces(Some("10.0.0.1"), Some(6379), &peer));
        assert!(announces(
            Some("redis-0.redis.default.svc.cluster.local."),
            Some(6379),
            &peer
        ));
        assert!(announces(Some("REDIS-0"), None, &peer));
        assert!(!announces(Some("10.0.0.1"), Some(6380), &peer));
        assert!(!announces(Some("10.0.0.9"), Some(6379), &peer));
        assert!(!announces(None, Some(6379), &peer));
    }
}
