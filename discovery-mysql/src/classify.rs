//! What a driver error says about the pod it came from.

use mysql_async::{DriverError, Error};

/// `ER_OPTION_PREVENTS_STATEMENT`: "running with the --read-only option". The statement
/// was refused, so it was not applied: the pod is no longer (or not yet) the primary.
pub(crate) const READ_ONLY: u16 = 1290;
/// `ER_READ_ONLY_MODE` (MariaDB): the same refusal in another wording.
const READ_ONLY_MODE: u16 = 1836;
/// The server is shutting down, or our connection was killed.
const SHUTDOWN: &[u16] = &[1053, 1927];

/// How a result bears on routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to do (success, or an error about the statement itself).
    Fine,
    /// The pod refused a write as read-only: re-probe, and the write may be retried.
    NotPrimary,
    /// The pod or the connection to it failed: re-probe and re-resolve.
    Broken,
}

pub(crate) fn of(error: &Error) -> Verdict {
    match error {
        Error::Server(e) if e.code == READ_ONLY || e.code == READ_ONLY_MODE => Verdict::NotPrimary,
        Error::Server(e) if SHUTDOWN.contains(&e.code) => Verdict::Broken,
        Error::Server(_) | Error::Url(_) => Verdict::Fine,
        Error::Driver(DriverError::PoolDisconnected) => Verdict::Broken,
        Error::Driver(_) => Verdict::Fine,
        Error::Io(_) | Error::Other(_) => Verdict::Broken,
    }
}
