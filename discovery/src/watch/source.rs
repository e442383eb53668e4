//! [`SourceInUse`]: which source a watch takes its peers from, and why.

use std::fmt;
use std::time::Instant;

use crate::config::Source;
use crate::error::SharedError;

/// Which source a watch is following now ([`Watch::source`](crate::Watch::source)).
/// Only [`Source::Auto`] ever switches.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SourceInUse {
    /// [`Source::Dns`] or [`Source::Kube`].
    pub source: Source,
    /// Why this one.
    pub reason: SourceReason,
    /// Since when.
    pub since: Instant,
}

/// Why a watch follows the source it does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SourceReason {
    /// The config names it.
    Configured,
    /// `Auto`: the API listed the Service's slices.
    ApiAnswers,
    /// `Auto`: the API could not be used (no credentials, 403, an outage longer than
    /// the fallback bound); DNS serves meanwhile. The error says why.
    ApiFailing(SharedError),
}

impl SourceInUse {
    pub(crate) fn new(source: Source, reason: SourceReason) -> Self {
        Self {
            source,
            reason,
            since: Instant::now(),
        }
    }
}

impl fmt::Display for SourceInUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            SourceReason::Configured => write!(f, "{} (configured)", self.source),
            SourceReason::ApiAnswers => write!(f, "{} (auto: the API answers)", self.source),
            SourceReason::ApiFailing(error) => {
                write!(
                    f,
                    "{} (auto: falling back, the API failed: {error})",
                    self.source
                )
            }
        }
    }
}
