//! Reading replies: wrong-role errors, and turning our errors into redis-rs ones.

use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use crate::error::Error;

/// What a reply says about the pod that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A normal reply (including ordinary command errors).
    Fine,
    /// `READONLY`: the pod is a replica now; the write was not applied.
    NotMaster,
    /// `MASTERDOWN`, `LOADING`: the pod cannot serve right now.
    Unavailable,
    /// The connection broke or timed out: the command may or may not have run.
    Broken,
}

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
        Value::ServerError(e) => match e.kind() {
            Some(ServerErrorKind::ReadOnly) => Verdict::NotMaster,
            Some(ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading) => {
                Verdict::Unavailable
            }
            // A script that wrote on a replica: `ERR Error running script ... -READONLY ...`.
            _ if e.details().is_some_and(|d| d.contains("READONLY")) => Verdict::NotMaster,
            _ => Verdict::Fine,
        },
        Value::Array(items) => of_all(items),
        _ => Verdict::Fine,
    }
}

pub(crate) fn of_error(error: &RedisError) -> Verdict {
    match error.kind() {
        ErrorKind::Server(ServerErrorKind::ReadOnly) => Verdict::NotMaster,
        ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading) => {
            Verdict::Unavailable
        }
        _ if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() => {
            Verdict::Broken
        }
        _ if error.detail().is_some_and(|d| d.contains("READONLY")) => Verdict::NotMaster,
        _ => Verdict::Fine,
    }
}

/// Our error as a redis-rs error, for the `ConnectionLike` impls.
pub(crate) fn to_redis_error(error: Error) -> RedisError {
    match error {
        Error::Pod { source, .. } => source,
        other => RedisError::from((ErrorKind::Client, "discovery-redis", other.to_string())),
    }
}
