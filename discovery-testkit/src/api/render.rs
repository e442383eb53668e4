//! The EndpointSlices the EndpointSlice controller would keep for the cluster's
//! StatefulSets, rendered from the same model the DNS server answers from.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use serde_json::{Value, json};

use crate::cluster::State;
use crate::model::SetState;

/// A slice's identity: namespace and object name.
pub(crate) type Key = (String, String);

/// One rendered slice: its object without `metadata.resourceVersion`, which the store adds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub(crate) object: Value,
}

/// An extra slice a test adds by hand, listing copies of some pods' endpoints: the
/// overlap a real cluster shows for a moment while the controller moves endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    pub(crate) namespace: String,
    pub(crate) set: String,
    pub(crate) name: String,
    pub(crate) ordinals: Vec<u32>,
}

/// Every slice, by key. Terminating pods past their drain period are pruned from
/// `state` on the way.
pub(crate) fn slices(
    state: &mut State,
    per_slice: usize,
    mirrors: &[Mirror],
) -> BTreeMap<Key, Rendered> {
    let now = Instant::now();
    for set in &mut state.sets {
        set.terminating.retain(|t| t.until > now);
    }
    let mut out = BTreeMap::new();
    for set in &state.sets {
        let mut endpoints: Vec<(u32, Value)> = set
            .pods
            .iter()
            .map(|(ordinal, pod)| (*ordinal, endpoint(set, *ordinal, pod.ip, pod.ready, false)))
            .collect();
        endpoints.extend(
            set.terminating
                .iter()
                .map(|t| (t.ordinal, endpoint(set, t.ordinal, t.ip, false, true))),
        );
        endpoints.sort_by_key(|(ordinal, _)| *ordinal);
        let chunks: Vec<Vec<Value>> = endpoints
            .chunks(per_slice.max(1))
            .map(|c| c.iter().map(|(_, e)| e.clone()).collect())
            .collect();
        for (index, chunk) in chunks.into_iter().enumerate() {
            let name = format!("{}-{index}", set.spec.service);
            out.insert(
                (set.spec.namespace.clone(), name.clone()),
                slice(set, &name, chunk),
            );
        }
        for mirror in mirrors
            .iter()
            .filter(|m| m.namespace == set.spec.namespace && m.set == set.spec.name)
        {
            let copies = set
                .pods
                .iter()
                .filter(|(o, _)| mirror.ordinals.contains(o))
                .map(|(o, pod)| endpoint(set, *o, pod.ip, pod.ready, false))
                .collect();
            out.insert(
                (set.spec.namespace.clone(), mirror.name.clone()),
                slice(set, &mirror.name, copies),
            );
        }
    }
    out
}

fn slice(set: &SetState, name: &str, endpoints: Vec<Value>) -> Rendered {
    let address_type = match set.spec.family {
        crate::IpFamily::V4 => "IPv4",
        crate::IpFamily::V6 => "IPv6",
    };
    let ports: Vec<Value> = set
        .spec
        .ports
        .iter()
        .map(|p| {
            json!({
                "name": p.name.clone().unwrap_or_default(),
                "port": p.port,
                "protocol": p.protocol.to_ascii_uppercase(),
            })
        })
        .collect();
    Rendered {
        object: json!({
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": set.spec.namespace,
                "uid": format!("testkit-{}-{name}", set.spec.namespace),
                "labels": {
                    "kubernetes.io/service-name": set.spec.service,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": address_type,
            "endpoints": endpoints,
            "ports": ports,
        }),
    }
}

/// One endpoint as the controller writes it. A pod being deleted is not ready,
/// still serving, and terminating; with `publishNotReadyAddresses` every pod is ready.
fn endpoint(set: &SetState, ordinal: u32, ip: IpAddr, ready: bool, terminating: bool) -> Value {
    let ready = (ready || set.spec.publish_not_ready) && !terminating;
    let pod = format!("{}-{ordinal}", set.spec.name);
    let mut endpoint = json!({
        "addresses": [ip.to_string()],
        "conditions": {
            "ready": ready,
            "serving": ready || terminating,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": set.spec.namespace,
            "name": pod,
        },
    });
    if set.spec.hostnames {
        endpoint["hostname"] = json!(pod);
    }
    if let Some(zone) = set.zone(ordinal) {
        endpoint["zone"] = json!(zone);
        endpoint["nodeName"] = json!(format!("{zone}-node"));
    }
    endpoint
}
