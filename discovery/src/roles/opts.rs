//! [`RoleOpts`]: how the engine watches roles, the same for every store.

use std::time::Duration;

use serde::Deserialize;

use super::ReadPolicy;

/// How roles are watched and reads placed: the part of every store's config that is not
/// about connecting (`RedisConfig::roles`, `MySqlConfig::roles`).
///
/// Deserializes from your config (all fields optional, durations like `"1s"`); every
/// default is in the field's doc.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RoleOpts {
    /// How often every pod is asked its role (jittered ±15 %). Defaults to 1 s.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// How long one pod may take to answer its probe before the round goes on without it
    /// (reported down), so that one frozen pod does not hold up a failover. Defaults to
    /// 500 ms.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// The smallest gap between two probe rounds asked for by errors (a refusal, a
    /// dropped connection) or discovery changes. Defaults to 50 ms.
    #[serde(with = "humantime_serde")]
    pub probe_debounce: Duration,
    /// How long a write waits for a leader to appear before failing with
    /// [`RoleError::NoLeader`](super::RoleError::NoLeader). Defaults to 5 s.
    #[serde(with = "humantime_serde")]
    pub failover_wait: Duration,
    /// When several pods claim to lead and their followers do not settle it, prefer this
    /// ordinal. Defaults to none: writes are refused instead. Never used otherwise.
    pub tie_break_ordinal: Option<u32>,
    /// Replicas further behind than this get no reads. Defaults to 10 s; `None` turns the
    /// check off.
    #[serde(with = "humantime_serde")]
    pub max_lag: Option<Duration>,
    /// Replicas more than this many bytes behind get no reads, where the store measures
    /// bytes (Redis). Defaults to 1 MiB; `None` turns the check off.
    pub max_lag_bytes: Option<u64>,
    /// Where reads go when the call does not say. Defaults to
    /// [`ReadPolicy::ReplicaPreferred`].
    pub read_policy: ReadPolicy,
}

impl Default for RoleOpts {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            probe_debounce: Duration::from_millis(50),
            failover_wait: Duration::from_secs(5),
            tie_break_ordinal: None,
            max_lag: Some(Duration::from_secs(10)),
            max_lag_bytes: Some(1024 * 1024),
            read_policy: ReadPolicy::ReplicaPreferred,
        }
    }
}

impl RoleOpts {
    /// Probe every `interval`.
    #[must_use]
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Give up on one pod's probe after `timeout`.
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Wait up to `wait` for a leader.
    #[must_use]
    pub fn failover_wait(mut self, wait: Duration) -> Self {
        self.failover_wait = wait;
        self
    }

    /// Settle a split brain for this ordinal.
    #[must_use]
    pub fn tie_break_ordinal(mut self, ordinal: Option<u32>) -> Self {
        self.tie_break_ordinal = ordinal;
        self
    }

    /// Replicas further behind than `max` get no reads (`None`: no limit).
    #[must_use]
    pub fn max_lag(mut self, max: Option<Duration>) -> Self {
        self.max_lag = max;
        self
    }

    /// Replicas more than `max` bytes behind get no reads (`None`: no limit).
    #[must_use]
    pub fn max_lag_bytes(mut self, max: Option<u64>) -> Self {
        self.max_lag_bytes = max;
        self
    }

    /// Reads go where `policy` says unless the call says otherwise.
    #[must_use]
    pub fn read_policy(mut self, policy: ReadPolicy) -> Self {
        self.read_policy = policy;
        self
    }
}
