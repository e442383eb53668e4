//! The HTTP side: routes, authentication, lists and watch streams.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::store::Change;
use super::{ApiFault, Inner};
use crate::Error;
use crate::tls::TestCa;

type Body = BoxBody<Bytes, Infallible>;

const PREFIX: &str = "/apis/discovery.k8s.io/v1/namespaces/";
/// The longest watch the server grants, as the API server's `--min-request-timeout`
/// (1800 s) bounds it.
const MAX_WATCH: Duration = Duration::from_secs(1800);

/// A TLS acceptor with a certificate for `addr` and the in-cluster names, and its CA.
pub(super) fn acceptor(addr: SocketAddr) -> Result<(TestCa, TlsAcceptor), Error> {
    let ca = TestCa::new()?;
    let names = [
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
        "localhost".to_owned(),
    ];
    let issued = ca.issue(&names, &[addr.ip()])?;
    let tls = |e: String| Error::Tls(e);
    let certs = certs_of(&issued.cert_pem).map_err(tls)?;
    use rustls::pki_types::pem::PemObject as _;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
        .map_err(|e| tls(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| tls(e.to_string()))?;
    Ok((ca, TlsAcceptor::from(Arc::new(config))))
}

fn certs_of(pem: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// Accepts connections for ever (the handle aborts it).
pub(super) async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let inner = Arc::clone(&inner);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let inner = Arc::clone(&inner);
                async move { Ok::<_, Infallible>(handle(&inner, request).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

async fn handle(inner: &Arc<Inner>, request: Request<Incoming>) -> Response<Body> {
    inner.requests.fetch_add(1, Ordering::Relaxed);
    // A change a test made is stored before any later read, as an API server's writes
    // are, even if the task that follows the cluster has not run yet.
    inner.sync();
    let given = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let forbidden = given.is_some() && given == inner.forbidden_token.as_deref();
    if let Some(token) = &inner.token
        && given != Some(token.as_str())
        && !forbidden
    {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let path = request.uri().path().to_owned();
    let Some(namespace) = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix("/endpointslices"))
        .filter(|ns| !ns.contains('/'))
        .map(str::to_owned)
    else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the testkit API server serves only {PREFIX}<ns>/endpointslices, not {path}"),
        );
    };
    let fault = match *inner.fault.borrow() {
        ApiFault::None if forbidden => ApiFault::Forbidden,
        fault => fault,
    };
    match fault {
        ApiFault::None => {}
        ApiFault::Unavailable => {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the API server is unavailable (testkit fault)",
            );
        }
        ApiFault::Forbidden => {
            return status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:{namespace}:default\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"{namespace}\""
                ),
            );
        }
        ApiFault::Stall => {
            let mut fault = inner.fault.subscribe();
            let _ = fault.wait_for(|f| *f != ApiFault::Stall).await;
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the API server stalled (testkit fault)",
            );
        }
    }
    let query = parse_query(request.uri().query().unwrap_or(""));
    let selector = match Selector::parse(query.get("labelSelector").map_or("", String::as_str)) {
        Ok(selector) => selector,
        Err(message) => return status(StatusCode::BAD_REQUEST, "BadRequest", &message),
    };
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        watch(inner, namespace, selector, &query)
    } else {
        list(inner, &namespace, &selector, &query)
    }
}

fn list(
    inner: &Inner,
    namespace: &str,
    selector: &Selector,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let store = inner.lock_store();
    let (rv, offset) = match query.get("continue").filter(|c| !c.is_empty()) {
        None => (store.rv(), 0),
        Some(token) => {
            let parsed = token
                .split_once('/')
                .and_then(|(rv, off)| Some((rv.parse::<u64>().ok()?, off.parse::<usize>().ok()?)));
            match parsed {
                Some((rv, offset)) if store.since(rv).is_some() => (rv, offset),
                _ => {
                    return status(
                        StatusCode::GONE,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    );
                }
            }
        }
    };
    let items: Vec<Value> = store.list(namespace);
    let items: Vec<Value> = items.into_iter().filter(|o| selector.matches(o)).collect();
    let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if offset + page.len() < items.len() {
        metadata["continue"] = json!(format!("{rv}/{}", offset + page.len()));
        metadata["remainingItemCount"] = json!(items.len() - offset - page.len());
    }
    drop(store);
    respond(
        StatusCode::OK,
        &json!({
            "kind": "EndpointSliceList",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": metadata,
            "items": page,
        }),
    )
}

fn watch(
    inner: &Arc<Inner>,
    namespace: String,
    selector: Selector,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let from = query
        .get("resourceVersion")
        .and_then(|rv| rv.parse::<u64>().ok())
        .filter(|rv| *rv > 0);
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true" || b == "1");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(MAX_WATCH, Duration::from_secs)
        .min(MAX_WATCH);
    let (frames, body) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        let stream = WatchStream {
            inner,
            namespace,
            selector,
            frames,
        };
        stream.run(from, bookmarks, timeout).await;
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(body));
    Response::builder()
        .status(StatusCode::OK)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed(body))
        .unwrap_or_else(|_| Response::new(empty()))
}

/// One open watch.
struct WatchStream {
    inner: Arc<Inner>,
    namespace: String,
    selector: Selector,
    frames: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
}

impl WatchStream {
    async fn run(self, from: Option<u64>, bookmarks: bool, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rv = self.inner.rv.subscribe();
        let mut generation = self.inner.generation.subscribe();
        generation.borrow_and_update();
        let mut fault = self.inner.fault.subscribe();
        let mut at = match from {
            Some(at) => at,
            None => {
                // No version: the current objects as ADDED, then changes, as the API does.
                let (now, objects) = {
                    let store = self.inner.lock_store();
                    (store.rv(), store.list(&self.namespace))
                };
                for object in objects.into_iter().filter(|o| self.selector.matches(o)) {
                    if !self.send("ADDED", &object).await {
                        return;
                    }
                }
                now
            }
        };
        let mut bookmark = tokio::time::interval(self.inner.bookmarks);
        bookmark.tick().await;
        loop {
            if *fault.borrow_and_update() == ApiFault::None {
                let batch = {
                    let store = self.inner.lock_store();
                    let latest = store.rv();
                    store.since(at).map(|changes| {
                        let changes: Vec<_> = changes
                            .filter(|c| self.wants(c))
                            .map(|c| (c.kind.as_str(), c.object.clone()))
                            .collect();
                        (changes, latest)
                    })
                };
                let Some((changes, latest)) = batch else {
                    let gone = json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "reason": "Expired", "code": 410,
                        "message": format!("too old resource version: {at}"),
                    });
                    let _ = self.send("ERROR", &gone).await;
                    return;
                };
                for (kind, object) in changes {
                    if !self.send(kind, &object).await {
                        return;
                    }
                }
                at = latest;
            }
            tokio::select! {
                changed = rv.changed() => if changed.is_err() { return },
                _ = generation.changed() => return,
                _ = fault.changed() => {}
                _ = bookmark.tick(), if bookmarks => {
                    if *fault.borrow() == ApiFault::None {
                        let mark = json!({
                            "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                            "metadata": { "resourceVersion": at.to_string() },
                        });
                        if !self.send("BOOKMARK", &mark).await {
                            return;
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => return,
                () = self.frames.closed() => return,
            }
        }
    }

    fn wants(&self, change: &Change) -> bool {
        change.namespace == self.namespace && self.selector.matches(&change.object)
    }

    /// Sends one event line; false once the client is gone.
    async fn send(&self, kind: &str, object: &Value) -> bool {
        let mut line = json!({ "type": kind, "object": object }).to_string();
        line.push('\n');
        self.frames
            .send(Ok(Frame::data(Bytes::from(line))))
            .await
            .is_ok()
    }
}

/// An equality-based label selector.
#[derive(Debug, Default)]
struct Selector {
    terms: Vec<(String, bool, String)>,
}

impl Selector {
    fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (key, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "the testkit API server takes only k=v, k==v and k!=v selectors, not `{term}`"
                ));
            };
            terms.push((key.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self { terms })
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.terms.iter().all(|(key, equal, value)| {
            let actual = labels.get(key).and_then(Value::as_str);
            (actual == Some(value.as_str())) == *equal
        })
    }
}

fn parse_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A `Status` object, as the API answers errors.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    respond(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code.as_u16(),
        }),
    )
}

fn respond(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed(Full::new(Bytes::from(body.to_string()))))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn empty() -> Body {
    BodyExt::boxed(Full::new(Bytes::new()))
}
