//! The hickory-server request handler: counts, applies faults, answers from the state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::{Name, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::answer::Zone;
use super::{Fault, ScriptedReply};
use crate::cluster::State;

/// What the handler shares with the [`Cluster`](crate::Cluster).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) state: RwLock<State>,
    pub(crate) fault: Mutex<Fault>,
    pub(crate) total: AtomicU64,
    pub(crate) over_tcp: AtomicU64,
    pub(crate) per_question: Mutex<HashMap<(Name, RecordType), u64>>,
    /// Questions answered from a test's script instead of the zone.
    pub(crate) scripts: RwLock<HashMap<(Name, RecordType), ScriptedReply>>,
    /// Bumped after every change to `state`, for the API server's watches.
    pub(crate) changes: tokio::sync::watch::Sender<u32>,
    /// CoreDNS `cache` replicas in front of the zone, if the cluster emulates them.
    pub(crate) caches: std::sync::OnceLock<super::Caches>,
}

impl Shared {
    /// Tells the API server that `state` changed (call with the lock released).
    pub(crate) fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Handler(pub(crate) Arc<Shared>);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let shared = &self.0;
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;

        let Some(query) = request.queries.queries().first() else {
            metadata.response_code = ResponseCode::FormErr;
            return send_empty(request, metadata, &mut response_handle).await;
        };
        let qname: Name = query.name().into();
        let qtype = query.query_type();
        shared.total.fetch_add(1, Ordering::Relaxed);
        if request.protocol() == Protocol::Tcp {
            shared.over_tcp.fetch_add(1, Ordering::Relaxed);
        }
        *shared
            .per_question
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((qname.to_lowercase(), qtype))
            .or_default() += 1;

        let fault = *shared.fault.lock().unwrap_or_else(PoisonError::into_inner);
        match fault {
            Fault::None => {}
            Fault::ServFail | Fault::Refused => {
                metadata.response_code = if fault == Fault::ServFail {
                    ResponseCode::ServFail
                } else {
                    ResponseCode::Refused
                };
                return send_empty(request, metadata, &mut response_handle).await;
            }
            Fault::NoAnswer => {
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
            Fault::Slow(delay) => tokio::time::sleep(delay).await,
        }

        let script = shared
            .scripts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(qname.to_lowercase(), qtype))
            .cloned();
        if let Some(script) = script {
            return send_scripted(request, metadata, &script, shared, &mut response_handle).await;
        }

        let zone = || {
            let state = shared.state.read().unwrap_or_else(PoisonError::into_inner);
            let mut reply = Zone {
                domain: &state.domain,
                ttl: state.ttl,
                serial: state.serial,
                sets: &state.sets,
            }
            .answer(&qname, qtype);
            if !state.glue {
                reply.additionals.clear();
            }
            reply
        };
        let reply = match shared.caches.get() {
            Some(caches) => caches.answer(&qname, qtype, zone),
            None => zone(),
        };
        metadata.response_code = reply.code;
        let builder = MessageResponseBuilder::new(&request.queries, request.edns.as_ref());
        let response = builder.build(
            metadata,
            reply.answers.iter(),
            std::iter::empty(),
            reply.soa.iter(),
            reply.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::warn!(%error, "testkit DNS: sending the response failed");
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// Sends a test's scripted reply, records, rcode and TC bit as written.
async fn send_scripted<R: ResponseHandler>(
    request: &Request,
    mut metadata: Metadata,
    script: &ScriptedReply,
    shared: &Shared,
    handle: &mut R,
) -> ResponseInfo {
    let ttl = shared
        .state
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .ttl;
    let Ok((answers, additionals)) = script.sections(ttl) else {
        metadata.response_code = ResponseCode::ServFail;
        return send_empty(request, metadata, handle).await;
    };
    metadata.response_code = <ResponseCode as From<u16>>::from(script.rcode());
    metadata.truncation = script.is_truncated();
    let builder = MessageResponseBuilder::new(&request.queries, request.edns.as_ref());
    let response = builder.build(
        metadata,
        answers.iter(),
        std::iter::empty(),
        std::iter::empty(),
        additionals.iter(),
    );
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(_) => ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        }),
    }
}

async fn send_empty<R: ResponseHandler>(
    request: &Request,
    metadata: Metadata,
    handle: &mut R,
) -> ResponseInfo {
    let builder = MessageResponseBuilder::new(&request.queries, request.edns.as_ref());
    let response = builder.build_no_records(metadata);
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(_) => ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        }),
    }
}
