//! [`MySqlConfig`]: credentials, pools, timeouts, probing and read-routing limits.

use std::time::Duration;

pub use headless_discovery::{Secret, Tls};
use serde::Deserialize;

use headless_discovery::roles::RoleOpts;

/// How the router talks to the pods and decides where statements go.
///
/// Deserializes from your config (all fields optional, durations like `"1s"`); every
/// default is in the field's doc.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MySqlConfig {
    /// User name. Defaults to `root`; give an application user without `SUPER`/`ALL`:
    /// on MariaDB 10.11 those write straight through `read_only`.
    pub user: String,
    /// Password. Defaults to none. Never logged.
    pub password: Option<Secret>,
    /// Default database. Defaults to none.
    pub database: Option<String>,
    /// Idle connections each pod's pool keeps. Defaults to 1.
    pub pool_min: usize,
    /// Connections each pod's pool opens at most. Defaults to 32.
    pub pool_max: usize,
    /// How long to wait for a connection to a pod (TCP, TLS and login; mysql_async has no
    /// such timeout of its own). Defaults to 2 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long a statement run through [`execute`](crate::MySqlRouter::execute),
    /// [`query`](crate::MySqlRouter::query) or the tower services may take. Defaults to
    /// 10 s.
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// A session you hold ([`run_on`](crate::MySqlRouter::run_on)) that sat idle this
    /// long is pinged before a statement whose outcome a broken connection would leave
    /// unknown (a write outside a transaction, a `COMMIT`). A dead connection is then
    /// found before the statement is sent, and the statement fails as
    /// [`Error::SessionLost`](crate::Error::SessionLost), known not applied, rather than
    /// as [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown). The ping costs one
    /// round trip, at most a few percent of the idle time it follows. Defaults to 10 ms;
    /// `None` never pings. (Pooled paths need no ping: the pool checks a connection's
    /// socket when it hands it out.)
    #[serde(with = "humantime_serde")]
    pub session_ping_after: Option<Duration>,
    /// How roles are watched and reads placed: probe pacing, `failover_wait`, lag
    /// limits (a NULL lag, a stopped thread, always counts as too far), the tie-break,
    /// and where [`replica`](crate::MySqlRouter::replica) and
    /// [`query`](crate::MySqlRouter::query) read (a `roles` table in a config file).
    pub roles: RoleOpts,
    /// How long [`replica_after`](crate::MySqlRouter::replica_after) lets a replica catch
    /// up with a consistency token before reading from the primary instead. Defaults to
    /// 1 s.
    #[serde(with = "humantime_serde")]
    pub read_your_writes_wait: Duration,
    /// TLS to the pods. Defaults to none (plain TCP).
    pub tls: Option<Tls>,
}

impl MySqlConfig {
    /// The defaults with this user and password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: Some(Secret::new(password)),
            ..Self::default()
        }
    }

    /// The same, with this default database.
    #[must_use]
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// The same, talking TLS to the pods.
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The same, watching roles and placing reads with `roles`.
    #[must_use]
    pub fn roles(mut self, roles: RoleOpts) -> Self {
        self.roles = roles;
        self
    }
}

impl Default for MySqlConfig {
    fn default() -> Self {
        Self {
            user: "root".to_owned(),
            password: None,
            database: None,
            pool_min: 1,
            pool_max: 32,
            connect_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(10),
            session_ping_after: Some(Duration::from_millis(10)),
            roles: RoleOpts::default(),
            read_your_writes_wait: Duration::from_secs(1),
            tls: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug() {
        let config: MySqlConfig = serde_json::from_str(
            r#"{ "user": "app", "password": "hunter2", "roles": { "max_lag": "3s", "read_policy": "replica" } }"#,
        )
        .expect("config");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(config.roles.max_lag, Some(Duration::from_secs(3)));
        assert!(matches!(
            config.roles.read_policy,
            headless_discovery::roles::ReadPolicy::Replica
        ));
        assert_eq!(
            config.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
    }
}
