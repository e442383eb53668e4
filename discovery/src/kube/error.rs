//! kube-rs errors as this crate's [`Error::Api`]: data, not strings joined together.

use kube::runtime::watcher;

use crate::error::{ApiFailure, Error};
use crate::name::HeadlessService;

/// The watcher's error for `service`.
pub(crate) fn from_watcher(service: &HeadlessService, error: watcher::Error) -> Error {
    let failure = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => from_client(e),
        watcher::Error::WatchError(status) => from_status(&status),
        watcher::Error::NoResourceVersion => {
            ApiFailure::Protocol("a list or watch without metadata.resourceVersion".to_owned())
        }
    };
    Error::Api {
        service: service.domain_name(),
        failure,
    }
}

/// A kube client error as a failure.
pub(crate) fn from_client(error: kube::Error) -> ApiFailure {
    match error {
        kube::Error::Api(status) => from_status(&status),
        kube::Error::InferConfig(e) => ApiFailure::Config(e.to_string()),
        kube::Error::SerdeError(e) => ApiFailure::Protocol(e.to_string()),
        kube::Error::LinesCodecMaxLineLengthExceeded => {
            ApiFailure::Protocol("a watch event longer than the client accepts".to_owned())
        }
        other => ApiFailure::Transport(error_chain(&other)),
    }
}

fn from_status(status: &kube::core::Status) -> ApiFailure {
    ApiFailure::Status {
        code: status.code,
        reason: status.reason.clone(),
        message: status.message.clone(),
    }
}

/// `error: cause: cause`, since transport errors hide the useful part in their sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
