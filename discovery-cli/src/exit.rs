//! How a command ends, and the exit code scripts see.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: pods found; for `topology`, exactly one master/primary |
//! | 1 | failure: DNS failed or contradicted itself, no pod could be probed (down, wrong password), the runtime could not start |
//! | 2 | usage: bad arguments, a bad service name, namespace, cluster domain, `DISCOVERY_NAMESERVER`, or an unset `--password-env` variable |
//! | 3 | answered, but nothing to use: no ready pod or no such Service (`resolve`), no master/primary or several (`topology`) |

use std::fmt;
use std::process::ExitCode;

/// Why a command did not succeed, with the one line to print.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Exit 1.
    Failed(String),
    /// Exit 2.
    Usage(String),
    /// Exit 3.
    NothingToUse(String),
}

impl Failure {
    pub(crate) fn code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Failed(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NothingToUse(_) => 3,
        })
    }

    /// A failure of the Redis or MySQL adapter: its discovery part may be a usage error.
    pub(crate) fn adapter(error: impl std::error::Error + 'static) -> Self {
        let mut source: Option<&dyn std::error::Error> = Some(&error);
        while let Some(cause) = source {
            if let Some(discovery) = cause.downcast_ref::<headless_discovery::Error>()
                && matches!(Failure::from(discovery.clone()), Failure::Usage(_))
            {
                return Failure::Usage(error.to_string());
            }
            source = cause.source();
        }
        Failure::Failed(error.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Failed(line) | Failure::Usage(line) | Failure::NothingToUse(line) => {
                f.write_str(line)
            }
        }
    }
}

impl From<headless_discovery::Error> for Failure {
    fn from(error: headless_discovery::Error) -> Self {
        match error {
            headless_discovery::Error::InvalidName(_)
            | headless_discovery::Error::InvalidConfig(_) => Failure::Usage(error.to_string()),
            _ => Failure::Failed(error.to_string()),
        }
    }
}
