//! When to resolve next: TTL-paced after an answer, exponential backoff after a failure,
//! both with jitter so that a fleet of clients does not query CoreDNS in lockstep.

use std::time::Duration;

use crate::config::Config;

/// The refresh pacing of one watch.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    min: Duration,
    max: Duration,
    jitter: f64,
    backoff_initial: Duration,
    backoff_max: Duration,
    failures: u32,
}

impl Schedule {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            min: config.min_refresh,
            max: config.max_refresh,
            jitter: config.jitter,
            backoff_initial: config.backoff_initial,
            backoff_max: config.backoff_max,
            failures: 0,
        }
    }

    /// After an answer: the TTL clamped to `[min_refresh, max_refresh]`, jittered. The
    /// floor keeps a TTL of 0 from spinning; the ceiling bounds how stale a long TTL can
    /// leave us.
    pub(crate) fn after_answer(&mut self, ttl: Duration) -> Duration {
        self.failures = 0;
        self.jittered(ttl.clamp(self.min, self.max))
    }

    /// After a transient failure: `backoff_initial * 2^n`, capped at `backoff_max`, jittered.
    pub(crate) fn after_failure(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(20));
        self.failures = self.failures.saturating_add(1);
        let delay = self
            .backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max);
        self.jittered(delay)
    }

    /// An answer came that sets no pace (the API source is pushed, not polled): the
    /// next failure backs off from the start again.
    #[cfg(feature = "kube")]
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// How many failures in a row so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    fn jittered(&self, delay: Duration) -> Duration {
        if self.jitter == 0.0 {
            return delay;
        }
        let factor = rand::random_range((1.0 - self.jitter)..=(1.0 + self.jitter));
        delay.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule::new(&Config::default())
    }

    #[test]
    fn ttl_is_clamped_then_jittered_by_at_most_15_percent() {
        let mut s = schedule();
        for _ in 0..1000 {
            let d = s.after_answer(Duration::from_secs(5));
            assert!(
                d >= Duration::from_millis(4250) && d <= Duration::from_millis(5750),
                "{d:?}"
            );
            let floor = s.after_answer(Duration::ZERO);
            assert!(
                floor >= Duration::from_millis(850) && floor <= Duration::from_millis(1150),
                "{floor:?}"
            );
            let ceiling = s.after_answer(Duration::from_secs(3600));
            assert!(
                ceiling >= Duration::from_millis(25_500)
                    && ceiling <= Duration::from_millis(34_500)
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_after_an_answer() {
        let config = Config {
            jitter: 0.0,
            ..Config::default()
        };
        let mut s = Schedule::new(&config);
        let delays: Vec<_> = (0..10).map(|_| s.after_failure()).collect();
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(delays[2], Duration::from_secs(1));
        assert_eq!(delays[9], Duration::from_secs(30));
        assert_eq!(s.failures(), 10);
        s.after_answer(Duration::from_secs(5));
        assert_eq!(s.after_failure(), Duration::from_millis(250));
    }
}
