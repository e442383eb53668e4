//! What the testkit's StatefulSets of real servers (Redis, MariaDB) share: a scratch
//! directory per set, who each pod replicates, the signals tests send pod processes, and
//! pod lookups that fail with the ordinal named.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::process::ServerProcess;
use crate::{Error, StatefulSet};

/// Who a pod replicates from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// Nobody: a master or primary.
    None,
    /// The pod with this ordinal.
    Of(u32),
}

/// A fresh directory for one set's files (`discovery-<kind>-<pid>-<first pod IP>`): unique
/// across parallel tests, since each cluster claims its own addresses.
pub(crate) fn scratch_dir(kind: &str, set: &StatefulSet) -> Result<PathBuf, Error> {
    let first = set
        .pods()
        .first()
        .map(|p| p.ip.to_string())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("discovery-{kind}-{}-{first}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Process(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Applies `f` (freeze, thaw) to a running pod's process.
pub(crate) fn signal(
    processes: &BTreeMap<u32, ServerProcess>,
    kind: &str,
    ordinal: u32,
    f: impl FnOnce(&ServerProcess) -> std::io::Result<()>,
) -> Result<(), Error> {
    let process = processes
        .get(&ordinal)
        .ok_or_else(|| Error::Process(format!("{kind} pod {ordinal} is not running")))?;
    f(process).map_err(|e| Error::Process(e.to_string()))
}

/// Whether the pod runs and is not frozen: only then can it be asked or told anything.
pub(crate) fn answers(processes: &BTreeMap<u32, ServerProcess>, ordinal: u32) -> bool {
    processes.get(&ordinal).is_some_and(|p| !p.is_frozen())
}

/// The pod's IP.
pub(crate) fn pod_ip(set: &StatefulSet, kind: &str, ordinal: u32) -> Result<IpAddr, Error> {
    set.pod(ordinal)
        .map(|p| p.ip)
        .ok_or_else(|| Error::Spec(format!("no {kind} pod with ordinal {ordinal}")))
}

/// The pod's FQDN.
pub(crate) fn pod_fqdn(set: &StatefulSet, kind: &str, ordinal: u32) -> Result<String, Error> {
    set.pod(ordinal)
        .map(|p| p.fqdn)
        .ok_or_else(|| Error::Spec(format!("no {kind} pod with ordinal {ordinal}")))
}
