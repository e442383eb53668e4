//! [`Secret`]: a credential that never shows in `Debug` output or logs.

use std::fmt;

use serde::Deserialize;

/// A password (or token) that never shows in `Debug` output or logs. The adapters
/// (`headless-discovery-redis`, `-mysql`) take their credentials in this form.
///
/// ```
/// let secret = headless_discovery::Secret::new("hunter2");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert_eq!(secret.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The password itself, for handing to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
