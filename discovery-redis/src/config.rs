//! [`RedisConfig`]: credentials, timeouts, probing and read-routing limits.

use std::time::Duration;

use headless_discovery::roles::RoleOpts;
pub use headless_discovery::{Secret, Tls};
use serde::Deserialize;

/// How the router talks to the pods and decides where commands go.
///
/// Deserializes from your config (all fields optional, durations like `"1s"`); every
/// default is in the field's doc.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// ACL user name. Defaults to none (the `default` user).
    pub username: Option<String>,
    /// Password. Defaults to none. Never logged.
    pub password: Option<Secret>,
    /// Database index. Defaults to 0.
    pub db: i64,
    /// How long to wait for a TCP connection to a pod. Defaults to 1 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long to wait for a reply. Defaults to 2 s.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// How roles are watched and reads placed: probe pacing, `failover_wait`, lag
    /// limits, the tie-break, the default read policy (a `roles` table in a config file).
    pub roles: RoleOpts,
    /// TLS to the pods. Defaults to none (plain TCP).
    pub tls: Option<Tls>,
    /// How long a read with a [`ConsistencyToken`](crate::ConsistencyToken) waits for a
    /// replica to reach the write before it goes to the master. Defaults to 1 s.
    #[serde(with = "humantime_serde")]
    pub read_your_writes_wait: Duration,
}

impl RedisConfig {
    /// The defaults: no credentials, database 0, plain TCP.
    pub fn new() -> Self {
        Self::default()
    }

    /// Authenticate as `username` (an ACL user) with `password`.
    #[must_use]
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// Authenticate as the `default` user with `password`.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// Select database `db`.
    #[must_use]
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Talk TLS to the pods.
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Watch roles and place reads with `roles`.
    #[must_use]
    pub fn roles(mut self, roles: RoleOpts) -> Self {
        self.roles = roles;
        self
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            db: 0,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            roles: RoleOpts::default(),
            tls: None,
            read_your_writes_wait: Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug() {
        let config: RedisConfig =
            serde_json::from_str(r#"{ "password": "hunter2", "roles": { "probe_interval": "250ms", "read_policy": { "ordinal": 2 } } }"#)
                .expect("config");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(config.roles.probe_interval, Duration::from_millis(250));
        assert!(matches!(
            config.roles.read_policy,
            headless_discovery::roles::ReadPolicy::Ordinal(2)
        ));
        assert_eq!(
            config.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
    }

    #[test]
    fn a_misplaced_or_misspelt_field_is_refused() {
        for text in [
            r#"{ "probe_interval": "1s" }"#,
            r#"{ "roles": { "probe_intervall": "1s" } }"#,
            r#"{ "roles": { "read_policy": "master" } }"#,
        ] {
            assert!(serde_json::from_str::<RedisConfig>(text).is_err(), "{text}");
        }
    }
}
