//! The observed topology: every pod's role, replication and health, and the primary, as
//! the core's role engine keeps it for MySQL reports.

use crate::report::ServerReport;

/// One pod as the last probe round saw it, with its variables and replica status.
pub type PodStatus = headless_discovery::roles::PodStatus<ServerReport>;

/// One probe round's view of the StatefulSet.
pub type Topology = headless_discovery::roles::Topology<ServerReport>;
