//! Ways to make the DNS server misbehave on purpose.

use std::time::Duration;

/// What the DNS server does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Answer SERVFAIL, as CoreDNS does before its informers have synced.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Do not answer at all: the client times out.
    NoAnswer,
    /// Answer normally, after this delay.
    Slow(Duration),
}
