//! Service names: what users write, and the absolute DNS names queried for it.
//!
//! A headless Service is named in any of the forms Kubernetes users already write; the
//! parser fills in the namespace and cluster domain later, from [`Config`](crate::Config)
//! or the pod's environment, and every query goes out as an absolute name (trailing dot),
//! so the `ndots:5` search list in a pod's `resolv.conf` never multiplies the queries.
//!
//! | written as | meaning |
//! |---|---|
//! | `redis` | service `redis` in the default namespace |
//! | `redis.cache` | namespace `cache` |
//! | `redis.cache.svc` / `redis.cache.svc.cluster.local.` | the same, with an explicit cluster domain |
//! | `_client._tcp.redis.cache` | the named port `client` (its SRV record) |
//! | `redis.cache:6379` | an unnamed port, by number |
//!
//! # Examples
//!
//! ```
//! use headless_discovery::{PortSpec, ServiceName};
//!
//! let name: ServiceName = "_redis._tcp.redis.cache.svc.cluster.local.".parse()?;
//! assert_eq!(name.service(), "redis");
//! assert_eq!(name.namespace(), Some("cache"));
//! assert_eq!(name.cluster_domain(), Some("cluster.local"));
//! assert_eq!(name.port(), &PortSpec::Named { name: "redis".into(), protocol: "tcp".into() });
//!
//! let err = "Redis_0.cache".parse::<ServiceName>().unwrap_err();
//! assert!(err.to_string().contains("only lower-case letters"));
//! # Ok::<(), headless_discovery::InvalidName>(())
//! ```

mod environment;
mod label;
mod parse;
mod service;

pub use environment::Environment;
pub use parse::{InvalidName, PortSpec, ServiceName};
pub use service::HeadlessService;

pub(crate) use label::{LabelRole, check_label, is_hostname_label};
