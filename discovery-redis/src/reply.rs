//! Reading replies: which [`Verdict`] each reply or error is (`READONLY`, `MASTERDOWN`,
//! `LOADING`, a broken connection), and turning our errors into redis-rs ones.

use headless_discovery::Peer;
use headless_discovery::roles::Verdict;
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use crate::error::Error;

pub(crate) fn of_result(result: &redis::RedisResult<Value>) -> Verdict {
    match result {
        Ok(value) => of_value(value),
        Err(e) => of_error(e),
    }
}

pub(crate) fn of_values(result: &redis::RedisResult<Vec<Value>>) -> Verdict {
    match result {
        Ok(values) => of_all(values),
        Err(e) => of_error(e),
    }
}

/// The first verdict that is not `Fine` among several replies.
pub(crate) fn of_all(values: &[Value]) -> Verdict {
    values
        .iter()
        .map(of_value)
        .find(|v| *v != Verdict::Fine)
        .unwrap_or(Verdict::Fine)
}

pub(crate) fn of_value(value: &Value) -> Verdict {
    match value {
        Value::ServerError(e) if e.code() == NOAUTH => Verdict::Rejected,
        Value::ServerError(e) => match e.kind() {
            Some(ServerErrorKind::ReadOnly) => Verdict::NotLeader,
            Some(ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading) => {
                Verdict::Unavailable
            }
            // A script that wrote on a replica: `ERR Error running script ... -READONLY ...`.
            _ if e.details().is_some_and(|d| d.contains("READONLY")) => Verdict::NotLeader,
            _ => Verdict::Fine,
        },
        Value::Array(items) => of_all(items),
        _ => Verdict::Fine,
    }
}

pub(crate) fn of_error(error: &RedisError) -> Verdict {
    match error.kind() {
        _ if rejects_client(error) => Verdict::Rejected,
        ErrorKind::Server(ServerErrorKind::ReadOnly) => Verdict::NotLeader,
        ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading) => {
            Verdict::Unavailable
        }
        _ if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() => {
            Verdict::Broken
        }
        // MULTI on a demoted master: every queued command refused, EXEC discarded them.
        _ if transaction_refused(error) => Verdict::NotLeader,
        _ if error.detail().is_some_and(|d| d.contains("READONLY")) => Verdict::NotLeader,
        _ => Verdict::Fine,
    }
}

/// The reply of a server with a password to a client that gave none.
const NOAUTH: &str = "NOAUTH";

/// Whether the pod rejects this client, which waiting will not change: credentials
/// refused (`WRONGPASS` at the handshake, `NOAUTH`), a certificate that did not verify, or
/// TLS settings of ours that cannot be used (an unreadable CA).
fn rejects_client(error: &RedisError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig
    ) || error.code() == Some(NOAUTH)
        || inner_of::<rustls::Error>(error).is_some()
}

/// Whether a reply is a refusal that proves its command was not applied: `READONLY`,
/// `MASTERDOWN`, `LOADING` (the server checks them before running the command).
pub(crate) fn refuses(value: &Value) -> bool {
    matches!(value, Value::ServerError(_))
        && matches!(of_value(value), Verdict::NotLeader | Verdict::Unavailable)
}

/// [`refuses`], for a reply that came back as an error.
pub(crate) fn refusal_error(error: &RedisError) -> bool {
    matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
        && matches!(of_error(error), Verdict::NotLeader | Verdict::Unavailable)
}

/// Whether a pipeline's error is a transaction the server discarded whole (`EXECABORT`:
/// no command of it ran) because every queued command was refused (`READONLY`,
/// `LOADING`, `MASTERDOWN`): it can go to the new master as it is.
pub(crate) fn transaction_refused(error: &RedisError) -> bool {
    if error.kind() != ErrorKind::Server(ServerErrorKind::ExecAbort) {
        return false;
    }
    error.clone().into_server_errors().is_some_and(|errors| {
        !errors.is_empty()
            && errors.iter().all(|(_, e)| {
                matches!(
                    e.kind(),
                    Some(
                        ServerErrorKind::ReadOnly
                            | ServerErrorKind::MasterDown
                            | ServerErrorKind::BusyLoading
                    )
                )
            })
    })
}

/// The typed error for a request to `pod` that failed with `source`, on a connection
/// that does not move: [`Error::OutcomeUnknown`] when the connection broke (or timed
/// out) after a request that may write was written (`sent`); else [`Error::Pod`]: a
/// refusal or another reply error, a connection dead before the request, or a read,
/// which applies nothing wherever it reached.
pub(crate) fn pod_error(pod: &Peer, source: RedisError, sent: bool, writes: bool) -> Error {
    if sent && writes && of_error(&source) == Verdict::Broken {
        Error::OutcomeUnknown {
            pod: pod.clone(),
            source,
        }
    } else {
        Error::Pod {
            pod: pod.clone(),
            source,
        }
    }
}

/// Our error as a redis-rs error, for the `ConnectionLike` impls. An error about the
/// command itself (`WRONGTYPE`, a syntax error) is passed on as the server sent it, so
/// that its kind can be matched; every other error carries ours, pod and all, inside an
/// `io::Error` of the same kind ([`Error::from_redis`] gets it back).
pub(crate) fn to_redis_error(error: Error) -> RedisError {
    let kind = match error {
        Error::Pod { source, .. }
            if of_error(&source) == Verdict::Fine && !source.is_io_error() =>
        {
            return source;
        }
        Error::Pod { ref source, .. } | Error::OutcomeUnknown { ref source, .. } => io_kind(source),
        _ => std::io::ErrorKind::Other,
    };
    RedisError::from(std::io::Error::new(kind, error))
}

/// The kind of the `io::Error` under a redis-rs error, so that `is_connection_dropped`
/// and `is_timeout` still answer on ours.
fn io_kind(error: &RedisError) -> std::io::ErrorKind {
    if error.is_timeout() {
        return std::io::ErrorKind::TimedOut;
    }
    io_error_of(error).map_or(std::io::ErrorKind::Other, std::io::Error::kind)
}

/// The `io::Error` a redis-rs error wraps.
pub(crate) fn io_error_of(error: &RedisError) -> Option<&std::io::Error> {
    inner_of(error)
}

/// The error of type `E` a redis-rs error wraps: redis-rs keeps it behind an
/// `Arc<dyn Error>`, which is what `source()` gives.
fn inner_of<E: std::error::Error + 'static>(error: &RedisError) -> Option<&E> {
    use std::error::Error as _;
    let shared = error
        .source()?
        .downcast_ref::<std::sync::Arc<dyn std::error::Error + Send + Sync>>()?;
    let inner: &(dyn std::error::Error + 'static) = &**shared;
    inner.downcast_ref::<E>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as it comes off the wire.
    fn wire(resp: &str) -> Value {
        redis::parse_redis_value(resp.as_bytes()).expect("valid RESP")
    }

    fn io(kind: std::io::ErrorKind) -> RedisError {
        RedisError::from(std::io::Error::from(kind))
    }

    #[test]
    fn replies_as_verdicts() {
        let table: &[(&str, Verdict)] = &[
            ("+OK\r\n", Verdict::Fine),
            (":42\r\n", Verdict::Fine),
            ("$-1\r\n", Verdict::Fine),
            // Errors about the command itself say nothing about roles.
            ("-ERR unknown command 'FOO'\r\n", Verdict::Fine),
            (
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                Verdict::Fine,
            ),
            ("-NOSCRIPT No matching script.\r\n", Verdict::Fine),
            // A password is required and none was given: no wait will change it.
            ("-NOAUTH Authentication required.\r\n", Verdict::Rejected),
            (
                "-READONLY You can't write against a read only replica.\r\n",
                Verdict::NotLeader,
            ),
            (
                "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n",
                Verdict::Unavailable,
            ),
            (
                "-LOADING Redis is loading the dataset in memory\r\n",
                Verdict::Unavailable,
            ),
            // A script that wrote on a replica, as Redis 6 words it (7 keeps the code).
            (
                "-ERR Error running script (call to f_1b9a): @user_script:1: @user_script: 1: -READONLY You can't write against a read only replica.\r\n",
                Verdict::NotLeader,
            ),
            (
                "-READONLY You can't write against a read only replica. script: 1b9a, on @user_script:1.\r\n",
                Verdict::NotLeader,
            ),
            // EXEC and pipelines: the first reply that says something wins.
            (
                "*2\r\n+OK\r\n-READONLY You can't write against a read only replica.\r\n",
                Verdict::NotLeader,
            ),
            ("*2\r\n+OK\r\n:1\r\n", Verdict::Fine),
        ];
        for (resp, expected) in table {
            let value = wire(resp);
            assert_eq!(of_value(&value), *expected, "{resp:?}");
            // The same reply through redis-rs's error path (`extract_error`, `query_async`).
            if let Err(error) = value.clone().extract_error() {
                assert_eq!(of_error(&error), *expected, "{resp:?} as an error");
            }
        }
    }

    #[test]
    fn transport_errors_as_verdicts() {
        use std::io::ErrorKind as Io;
        for kind in [
            Io::BrokenPipe,
            Io::ConnectionReset,
            Io::ConnectionRefused,
            Io::UnexpectedEof,
            Io::TimedOut,
        ] {
            assert_eq!(of_error(&io(kind)), Verdict::Broken, "{kind:?}");
            assert_eq!(of_result(&Err(io(kind))), Verdict::Broken, "{kind:?}");
        }
        let ours = RedisError::from((ErrorKind::Client, "discovery-redis", "no leader".into()));
        assert_eq!(of_error(&ours), Verdict::Fine);
        // The pod rejects this client: credentials, or a certificate that did not verify
        // (as the handshake lifts it out of tokio-rustls's io::Error).
        let refused = RedisError::from((ErrorKind::AuthenticationFailed, "WRONGPASS"));
        assert_eq!(of_error(&refused), Verdict::Rejected);
        let certificate = crate::tls::handshake_error(std::io::Error::new(
            Io::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
        ));
        assert_eq!(of_error(&certificate), Verdict::Rejected);
        let reset = crate::tls::handshake_error(std::io::Error::from(Io::ConnectionReset));
        assert_eq!(
            of_error(&reset),
            Verdict::Broken,
            "a reset mid-handshake is the pod away"
        );
        assert_eq!(
            of_values(&Ok(vec![wire("+OK\r\n"), wire("-LOADING loading\r\n")])),
            Verdict::Unavailable
        );
    }

    #[test]
    fn our_errors_survive_the_trip_through_a_redis_error() {
        let pod = headless_discovery::Peer::new(
            "redis-0.redis.default.svc.cluster.local",
            std::net::SocketAddr::from(([127, 0, 0, 9], 6379)),
        );
        let unknown = Error::OutcomeUnknown {
            pod: pod.clone(),
            source: io(std::io::ErrorKind::ConnectionReset),
        };
        let redis_error = to_redis_error(unknown);
        assert!(redis_error.is_connection_dropped(), "the io kind is kept");
        let ours = Error::from_redis(&redis_error).expect("ours inside");
        assert!(ours.is_outcome_unknown());
        assert_eq!(ours.pod(), Some(&pod));

        // An error about the command itself passes through as the server sent it.
        let wrongtype =
            wire("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
                .extract_error()
                .expect_err("an error");
        let passed = to_redis_error(Error::Pod {
            pod,
            source: wrongtype,
        });
        assert_eq!(passed.code(), Some("WRONGTYPE"));
        assert!(!passed.is_io_error());
        assert!(Error::from_redis(&passed).is_none());
    }
}
