//! The testkit's DNS server: hickory-server answering like CoreDNS's `kubernetes` plugin.

mod answer;
mod cache;
mod fault;
mod handler;
mod script;
mod server;

pub(crate) use cache::Caches;
pub use fault::Fault;
pub(crate) use handler::{Handler, Shared};
pub(crate) use script::absolute;
pub use script::{ScriptedRecord, ScriptedReply};
pub(crate) use server::DnsServer;
