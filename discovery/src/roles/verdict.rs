//! [`Verdict`]: what a reply says about the pod that sent it, in one vocabulary for
//! every store.

/// What a reply or an error says about the pod that sent it. Each adapter classifies its
/// protocol's replies into it (Redis: `READONLY` is [`NotLeader`](Self::NotLeader);
/// MySQL: error 1290), and [`RoleWatch::observe`](super::RoleWatch::observe) acts on it.
///
/// | verdict | re-probe roles | re-resolve, drop the connection | send again to the new leader |
/// |---|---|---|---|
/// | `Fine` | no | no | no |
/// | `NotLeader` | yes | no | yes: refused, so not applied |
/// | `Unavailable` | yes | no | yes: refused, so not applied |
/// | `Broken` | yes | yes | only if the adapter knows nothing was written; else the outcome is unknown |
/// | `Rejected` | no | no | no: not applied, and waiting will not change it |
///
/// ```
/// use headless_discovery::roles::Verdict;
///
/// assert!(Verdict::NotLeader.retry_on_new_leader());
/// assert!(!Verdict::Broken.retry_on_new_leader(), "the write may have been applied");
/// assert!(Verdict::Unavailable.retry_on_new_leader(), "LOADING: not run");
/// assert!(Verdict::Broken.pod_lost());
/// assert!(!Verdict::Rejected.retry_on_new_leader(), "a bad certificate stays bad");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// A normal reply, or an error about the request itself (a syntax error, a duplicate
    /// key): nothing to learn about roles.
    Fine,
    /// The pod refused a write because it is not (or no longer) the leader, so the write
    /// was not applied: Redis `READONLY`, MySQL 1290/1836.
    NotLeader,
    /// The pod cannot serve now and did not apply the request: Redis `LOADING`,
    /// `MASTERDOWN`.
    Unavailable,
    /// The connection broke or timed out: the pod may be gone, and the request may or may
    /// not have been applied.
    Broken,
    /// The pod rejects this client: its certificate did not verify, or the credentials
    /// were refused. Nothing was applied, and neither waiting nor another probe round
    /// changes it: the configuration must.
    Rejected,
}

impl Verdict {
    /// Whether roles may have moved, so that a probe round should run now.
    pub fn reprobe(self) -> bool {
        !matches!(self, Verdict::Fine | Verdict::Rejected)
    }

    /// Whether the pod itself may be gone: discovery should re-resolve, and the adapter
    /// drop its connection to the pod.
    pub fn pod_lost(self) -> bool {
        self == Verdict::Broken
    }

    /// Whether the request may be sent again, to the leader a fresh probe round names
    /// ([`Resend`](super::Resend)): only when the pod refused it, so that it cannot be
    /// applied twice. A `Broken` request may be sent again only when the adapter knows
    /// it was never written to a socket.
    pub fn retry_on_new_leader(self) -> bool {
        matches!(self, Verdict::NotLeader | Verdict::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn what_each_verdict_asks_of_the_engine() {
        // (verdict, re-probe, pod lost, send once more to the new leader)
        let table = [
            (Verdict::Fine, false, false, false),
            (Verdict::NotLeader, true, false, true),
            (Verdict::Unavailable, true, false, true),
            (Verdict::Broken, true, true, false),
            (Verdict::Rejected, false, false, false),
        ];
        for (verdict, reprobe, lost, retry) in table {
            assert_eq!(verdict.reprobe(), reprobe, "{verdict:?}");
            assert_eq!(verdict.pod_lost(), lost, "{verdict:?}");
            assert_eq!(verdict.retry_on_new_leader(), retry, "{verdict:?}");
        }
    }
}
