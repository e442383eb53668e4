//! The DNS client: one query in, one classified answer out.
//!
//! Discovery talks to the name servers through hickory's `NameServerPool` directly,
//! below hickory's caching layer, because a watcher must see every change:
//!
//! - no response cache can hide a pod that just moved (ginepro and linkerd turn the cache
//!   off for the same reason);
//! - answers keep their Additional section, where CoreDNS puts the SRV targets' addresses;
//! - the pool still retries a truncated UDP answer over TCP, so large Services resolve whole;
//! - the caching layer answers `127.in-addr.arpa` PTR queries itself (RFC 6761), which
//!   would hide the server's answer for loopback pods in local clusters.
//!
//! Responses are sorted into the three outcomes that mean something for a headless
//! Service (records, NXDOMAIN, NODATA) and transient [`DnsFailure`](crate::DnsFailure)s.

mod answer;
mod client;
mod tcp;

pub(crate) use answer::Answer;
pub(crate) use client::DnsClient;
