//! Command-line arguments.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// Resolve and watch the pods of a Kubernetes StatefulSet through its headless Service.
#[derive(Debug, Parser)]
#[command(name = "discovery", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the ready pods of a Service: ordinal, hostname, IP, port, FQDN.
    Resolve(Target),
    /// Print the ready pods, then one line per change until interrupted.
    Watch(Target),
    /// Run a fake cluster in-process and show discovery and tower balancing at work.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Redis StatefulSets: roles, replication, and the master the client would use.
    #[command(subcommand)]
    Redis(RedisCommand),
    /// MySQL/MariaDB StatefulSets: roles, replication, and the primary the client would use.
    #[command(subcommand)]
    Mysql(MySqlCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum MySqlCommand {
    /// One row per pod: ordinal, FQDN, address, read_only, role, replication threads, lag,
    /// GTID position, and the primary.
    Topology(MySqlTopology),
}

#[derive(Debug, Args)]
pub(crate) struct MySqlTopology {
    #[command(flatten)]
    pub(crate) target: Target,

    /// User name (needs `REPLICA MONITOR`/`REPLICATION CLIENT` to read replica status).
    #[arg(long, default_value = "root")]
    pub(crate) user: String,

    /// Read the password from this environment variable (never from the command line).
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,

    /// Connect with TLS, trusting the CA in this PEM file; pods are verified by FQDN.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<std::path::PathBuf>,

    /// Keep printing the topology whenever a role, a thread, the primary or health changes.
    #[arg(long)]
    pub(crate) watch: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RedisCommand {
    /// One row per pod: ordinal, FQDN, address, role, offset, lag, link, and the master.
    Topology(RedisTopology),
}

#[derive(Debug, Args)]
pub(crate) struct RedisTopology {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Read the password from this environment variable (never from the command line).
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,

    /// ACL user name.
    #[arg(long)]
    pub(crate) user: Option<String>,

    /// Connect with TLS, trusting the CA in this PEM file; pods are verified by FQDN.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<std::path::PathBuf>,

    /// Keep printing the topology whenever a role, the master or a link changes.
    #[arg(long)]
    pub(crate) watch: bool,
}

/// Which Service, and how to reach DNS.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The Service: `svc`, `svc.ns`, `svc.ns.svc.<domain>`, `_port._tcp.svc.ns` or `svc.ns:6379`.
    pub(crate) service: String,

    /// Pick the named port (same as writing `_<name>._tcp.<service>`).
    #[arg(long, value_name = "P")]
    pub(crate) port_name: Option<String>,

    /// Ask this DNS server instead of /etc/resolv.conf (default: $DISCOVERY_NAMESERVER).
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) nameserver: Option<SocketAddr>,

    /// Namespace for names that give none (default: the pod's, else `default`).
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,

    /// Cluster domain for names that give none (default: from resolv.conf, else `cluster.local`).
    #[arg(long)]
    pub(crate) cluster_domain: Option<String>,

    /// Where peers come from: `dns` (the Service's records), `kube` (its
    /// EndpointSlices, through the Kubernetes API) or `auto` (the API, DNS when it fails).
    #[arg(long, default_value = "dns", value_name = "dns|kube|auto")]
    pub(crate) source: headless_discovery::Source,

    /// The kubeconfig for `--source kube` (default: $KUBECONFIG, ~/.kube/config, else
    /// the pod's service account).
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<std::path::PathBuf>,

    /// Print JSON: an array for `resolve`, one object per line for `watch`.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the fake cluster up after the demo and print its DNS address, until Ctrl-C.
    #[arg(long)]
    pub(crate) keep: bool,
}
