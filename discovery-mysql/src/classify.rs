//! What a driver error says about the pod it came from, as a [`Verdict`].

use headless_discovery::roles::Verdict;
use mysql_async::{DriverError, Error};

/// `ER_OPTION_PREVENTS_STATEMENT`: "running with the --read-only option". The statement
/// was refused, so it was not applied: the pod is no longer (or not yet) the primary.
pub(crate) const READ_ONLY: u16 = 1290;
/// `ER_READ_ONLY_MODE` (MariaDB): the same refusal in another wording.
const READ_ONLY_MODE: u16 = 1836;
/// The server is shutting down, or our connection was killed.
const SHUTDOWN: &[u16] = &[1053, 1927];
/// The server refuses this client, which waiting will not change: access denied (1045,
/// 1698), no access to the configured database (1044), no such database (1049), this
/// host not allowed (1130) or blocked (1129).
const REJECTED: &[u16] = &[1044, 1045, 1049, 1129, 1130, 1698];

pub(crate) fn of(error: &Error) -> Verdict {
    match error {
        _ if rejects_client(error) => Verdict::Rejected,
        Error::Server(e) if e.code == READ_ONLY || e.code == READ_ONLY_MODE => Verdict::NotLeader,
        Error::Server(e) if SHUTDOWN.contains(&e.code) => Verdict::Broken,
        Error::Server(_) | Error::Url(_) => Verdict::Fine,
        // The connection is gone or out of step with the server: it cannot be reused.
        Error::Driver(
            DriverError::PoolDisconnected
            | DriverError::ConnectionClosed
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. },
        ) => Verdict::Broken,
        Error::Driver(_) => Verdict::Fine,
        Error::Io(_) | Error::Other(_) => Verdict::Broken,
    }
}

/// Whether `error` says the pod rejects this client: refused credentials or host, a
/// certificate that did not verify (rustls's error, which mysql_async passes on inside an
/// `io::Error`), TLS settings of ours it cannot use, or a server without TLS when TLS is
/// configured.
fn rejects_client(error: &Error) -> bool {
    match error {
        Error::Server(e) => REJECTED.contains(&e.code),
        Error::Io(mysql_async::IoError::Io(io)) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        Error::Io(mysql_async::IoError::Tls(_)) => true,
        Error::Driver(DriverError::NoClientSslFlagFromServer) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use mysql_async::{DriverError, Error, ServerError};

    use super::*;

    /// A server error as MariaDB 10.11 sends it.
    fn server(code: u16, state: &str, message: &str) -> Error {
        Error::Server(ServerError {
            code,
            message: message.to_owned(),
            state: state.to_owned(),
        })
    }

    #[test]
    fn driver_errors_as_verdicts() {
        let table: Vec<(Error, Verdict)> = vec![
            (
                server(
                    1290,
                    "HY000",
                    "The MariaDB server is running with the --read-only option so it cannot execute this statement",
                ),
                Verdict::NotLeader,
            ),
            (
                server(1836, "HY000", "Running in read-only mode"),
                Verdict::NotLeader,
            ),
            (
                server(1053, "08S01", "Server shutdown in progress"),
                Verdict::Broken,
            ),
            (
                server(1927, "70100", "Connection was killed"),
                Verdict::Broken,
            ),
            // Errors about the statement itself say nothing about roles.
            (
                server(1062, "23000", "Duplicate entry '1' for key 'PRIMARY'"),
                Verdict::Fine,
            ),
            (
                server(1146, "42S02", "Table 'app.nope' doesn't exist"),
                Verdict::Fine,
            ),
            // The server refuses this client: no wait will change it.
            (
                server(1045, "28000", "Access denied for user 'app'@'127.0.0.1'"),
                Verdict::Rejected,
            ),
            (
                server(1049, "42000", "Unknown database 'nope'"),
                Verdict::Rejected,
            ),
            (
                Error::Io(
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        rustls::Error::InvalidCertificate(
                            rustls::CertificateError::NotValidForName,
                        ),
                    )
                    .into(),
                ),
                Verdict::Rejected,
            ),
            (
                Error::Driver(DriverError::NoClientSslFlagFromServer),
                Verdict::Rejected,
            ),
            (
                Error::Driver(DriverError::ConnectionClosed),
                Verdict::Broken,
            ),
            (
                Error::Driver(DriverError::PoolDisconnected),
                Verdict::Broken,
            ),
            (
                Error::Driver(DriverError::PacketOutOfOrder),
                Verdict::Broken,
            ),
            (Error::Driver(DriverError::NestedTransaction), Verdict::Fine),
            (Error::Driver(DriverError::MixedParams), Verdict::Fine),
            (
                Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()),
                Verdict::Broken,
            ),
            (
                Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into()),
                Verdict::Broken,
            ),
        ];
        for (error, expected) in &table {
            assert_eq!(of(error), *expected, "{error}");
        }
    }
}
