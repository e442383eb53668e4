//! [`StatefulSet`]: the handle a test changes a StatefulSet through.

use std::collections::btree_map::Entry;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLockWriteGuard};
use std::time::Instant;

use crate::Error;
use crate::addr::AddressPool;
use crate::cluster::State;
use crate::dns::Shared;
use crate::model::{IpFamily, Pod, PodState, SetState, StatefulSetSpec};

/// A declared StatefulSet. Every change is visible to the next DNS query.
#[derive(Debug, Clone)]
pub struct StatefulSet {
    shared: Arc<Shared>,
    pool: Arc<AddressPool>,
    name: String,
    namespace: String,
    service: String,
    family: IpFamily,
}

impl StatefulSet {
    pub(crate) fn new(shared: Arc<Shared>, pool: Arc<AddressPool>, spec: &StatefulSetSpec) -> Self {
        Self {
            shared,
            pool,
            name: spec.name.clone(),
            namespace: spec.namespace.clone(),
            service: spec.service.clone(),
            family: spec.family,
        }
    }

    /// The StatefulSet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The governing Service's DNS name, `<svc>.<ns>.svc.<domain>` (no trailing dot).
    pub fn service_fqdn(&self) -> String {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        format!(
            "{}.{}.svc.{}",
            self.service,
            self.namespace,
            state.domain.to_ascii().trim_end_matches('.')
        )
    }

    /// The pods, by ordinal.
    pub fn pods(&self) -> Vec<Pod> {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let domain = state.domain.to_ascii();
        let Some(set) = find(&state, &self.name, &self.namespace) else {
            return Vec::new();
        };
        set.pods
            .iter()
            .map(|(ordinal, pod)| Pod {
                name: format!("{}-{ordinal}", self.name),
                ordinal: *ordinal,
                ip: pod.ip,
                ready: pod.ready,
                fqdn: format!(
                    "{}.{}.{}.svc.{}",
                    set.hostname(*ordinal, pod.ip),
                    self.service,
                    self.namespace,
                    domain.trim_end_matches('.')
                ),
            })
            .collect()
    }

    /// The pod with this ordinal.
    pub fn pod(&self, ordinal: u32) -> Option<Pod> {
        self.pods().into_iter().find(|p| p.ordinal == ordinal)
    }

    /// Scales to `replicas`: new pods (ready, fresh IPs) above the highest ordinal, or the
    /// highest ordinals removed, as a StatefulSet controller does.
    ///
    /// # Errors
    ///
    /// [`Error::Addresses`] if the pool ran dry; [`Error::Spec`] if the set is gone.
    pub fn scale(&self, replicas: u32) -> Result<(), Error> {
        let mut state = self.write();
        let family = self.family;
        let drain = state.drain;
        let set = find_mut(&mut state, &self.name, &self.namespace)?;
        let start = set.spec.start_ordinal;
        let end = start + replicas;
        let until = Instant::now() + drain;
        let gone: Vec<u32> = set.pods.range(end..).map(|(o, _)| *o).collect();
        for ordinal in gone {
            if let Some(pod) = set.pods.remove(&ordinal) {
                set.terminate(ordinal, pod.ip, until);
            }
        }
        for ordinal in start..end {
            if let Entry::Vacant(slot) = set.pods.entry(ordinal) {
                let ip = self.pool.next(family)?;
                slot.insert(PodState::new(ip));
            }
        }
        set.spec.replicas = replicas;
        self.changed(state);
        Ok(())
    }

    /// Deletes a pod and leaves it terminating: the API lists it as serving and
    /// terminating (a draining peer) for the cluster's drain period, then drops it; DNS
    /// drops it at once. The StatefulSet does not recreate it until
    /// [`recreate_pod`](Self::recreate_pod).
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn terminate_pod(&self, ordinal: u32) -> Result<(), Error> {
        let mut state = self.write();
        let until = Instant::now() + state.drain;
        let set = find_mut(&mut state, &self.name, &self.namespace)?;
        let pod = set
            .pods
            .remove(&ordinal)
            .ok_or_else(|| no_pod(self, ordinal))?;
        set.terminate(ordinal, pod.ip, until);
        self.changed(state);
        Ok(())
    }

    /// Creates pod `ordinal` again after [`terminate_pod`](Self::terminate_pod), ready,
    /// at a fresh IP, which it returns.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if the pod exists; [`Error::Addresses`] if the pool ran dry.
    pub fn recreate_pod(&self, ordinal: u32) -> Result<IpAddr, Error> {
        let ip = self.pool.next(self.family)?;
        let mut state = self.write();
        let set = find_mut(&mut state, &self.name, &self.namespace)?;
        match set.pods.entry(ordinal) {
            Entry::Vacant(slot) => slot.insert(PodState::new(ip)),
            Entry::Occupied(_) => {
                return Err(Error::Spec(format!(
                    "StatefulSet {}/{} already has pod {ordinal}",
                    self.namespace, self.name
                )));
            }
        };
        self.changed(state);
        Ok(ip)
    }

    /// Marks a pod ready or not (its readiness probe passing or failing).
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn set_ready(&self, ordinal: u32, ready: bool) -> Result<(), Error> {
        self.with_pod(ordinal, |pod| pod.ready = ready)
    }

    /// Marks every pod ready or not.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if the set is gone.
    pub fn set_all_ready(&self, ready: bool) -> Result<(), Error> {
        let mut state = self.write();
        let set = find_mut(&mut state, &self.name, &self.namespace)?;
        set.pods.values_mut().for_each(|p| p.ready = ready);
        self.changed(state);
        Ok(())
    }

    /// Replaces a pod as a rolling update does: same ordinal and name, a new IP. Returns it.
    /// With a drain period, the API lists the old address as terminating for that long.
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod; [`Error::Addresses`] if the pool ran dry.
    pub fn replace_pod(&self, ordinal: u32) -> Result<IpAddr, Error> {
        let ip = self.pool.next(self.family)?;
        let mut state = self.write();
        let until = Instant::now() + state.drain;
        let set = find_mut(&mut state, &self.name, &self.namespace)?;
        let pod = set
            .pods
            .get_mut(&ordinal)
            .ok_or_else(|| no_pod(self, ordinal))?;
        let old = std::mem::replace(pod, PodState::new(ip));
        set.terminate(ordinal, old.ip, until);
        self.changed(state);
        Ok(ip)
    }

    /// Gives a pod a chosen address (for pods whose servers are already listening there).
    ///
    /// # Errors
    ///
    /// [`Error::Spec`] if there is no such pod.
    pub fn set_pod_ip(&self, ordinal: u32, ip: IpAddr) -> Result<(), Error> {
        self.with_pod(ordinal, |pod| pod.ip = ip)
    }

    fn with_pod(&self, ordinal: u32, change: impl FnOnce(&mut PodState)) -> Result<(), Error> {
        let mut state = self.write();
        let set = find_mut(&mut state, &self.name, &self.namespace)?;
        let pod = set
            .pods
            .get_mut(&ordinal)
            .ok_or_else(|| no_pod(self, ordinal))?;
        change(pod);
        self.changed(state);
        Ok(())
    }

    /// Ends a change: a new zone serial for DNS, and news for the API server's watches.
    fn changed(&self, mut state: RwLockWriteGuard<'_, State>) {
        state.serial += 1;
        drop(state);
        self.shared.changed();
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn no_pod(set: &StatefulSet, ordinal: u32) -> Error {
    Error::Spec(format!(
        "StatefulSet {}/{} has no pod with ordinal {ordinal}",
        set.namespace, set.name
    ))
}

fn find<'a>(state: &'a State, name: &str, namespace: &str) -> Option<&'a SetState> {
    state
        .sets
        .iter()
        .find(|s| s.spec.name == name && s.spec.namespace == namespace)
}

fn find_mut<'a>(
    state: &'a mut State,
    name: &str,
    namespace: &str,
) -> Result<&'a mut SetState, Error> {
    state
        .sets
        .iter_mut()
        .find(|s| s.spec.name == name && s.spec.namespace == namespace)
        .ok_or_else(|| Error::Spec(format!("StatefulSet {namespace}/{name} is not declared")))
}
