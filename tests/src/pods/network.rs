//! The pods' network: a bridge the runner owns in the host's namespace, and one network
//! namespace per pod joined to it by a veth pair, as a CNI plugin does. Pod IPs come from
//! `10.250.<n>.0/24`, a range used only on that bridge; the pods get no default route, so
//! their traffic can only reach each other and the bridge's own address (the cluster DNS).

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};

use super::PodError;

/// Pod addresses start here; the gateway (DNS) is `.1`.
const FIRST_HOST: u8 = 10;

/// A bridge and its /24, removed (with every namespace still on it) on drop.
#[derive(Debug)]
pub(crate) struct Bridge {
    index: u8,
    next_host: AtomicU8,
}

impl Bridge {
    /// Claims a free bridge name (`dscbr<n>`, taken by creating it, so parallel runners
    /// never share one) and brings it up with `10.250.<n>.1/24`. A bridge left behind by a
    /// runner that was killed before its drop ran is reclaimed.
    ///
    /// # Errors
    ///
    /// [`PodError::Network`] when `ip` fails (CI runs as root: a missing capability is a
    /// failure, not a skip), or when every name is in use by a live runner.
    pub(crate) fn create() -> Result<Self, PodError> {
        let owner = format!("discovery-pods-{}", std::process::id());
        for index in 0..=u8::MAX {
            let name = bridge_name(index);
            if ip(&["link", "add", &name, "type", "bridge"]).is_err() {
                if !stale(&name) {
                    continue;
                }
                remove_bridge(index);
                ip(&["link", "add", &name, "type", "bridge"])?;
            }
            let bridge = Self {
                index,
                next_host: AtomicU8::new(FIRST_HOST),
            };
            // A bridge without an address of its own takes the lowest of its ports', so a
            // pod joining with a lower one changes the gateway's MAC under the other pods'
            // ARP caches: their DNS queries then go unanswered for seconds. Pin it.
            let mac = format!("02:00:0a:fa:{index:02x}:01");
            ip(&["link", "set", "dev", &name, "address", &mac])?;
            ip(&["link", "set", "dev", &name, "alias", &owner])?;
            ip(&[
                "addr",
                "add",
                &format!("{}/24", bridge.gateway()),
                "dev",
                &name,
            ])?;
            ip(&["link", "set", "dev", &name, "up"])?;
            return Ok(bridge);
        }
        Err(PodError::Network {
            command: "ip link add dscbr<n> type bridge".into(),
            message: "every bridge name dscbr0..dscbr255 belongs to a live runner".into(),
        })
    }

    /// The bridge's own address: where the cluster DNS listens.
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, self.index, 1)
    }

    /// A new network namespace on the bridge with the next free address, its loopback up.
    ///
    /// # Errors
    ///
    /// [`PodError::Network`] when `ip` fails or the /24 is used up.
    pub(crate) fn attach(&self) -> Result<PodNetwork, PodError> {
        let host = self.next_host.fetch_add(1, Ordering::Relaxed);
        if host == u8::MAX || host < FIRST_HOST {
            return Err(PodError::Network {
                command: "attach".into(),
                message: format!("no address left in 10.250.{}.0/24", self.index),
            });
        }
        let netns = format!("dsc{}-{host}", self.index);
        let outside = format!("dsv{}x{host}", self.index);
        let address = Ipv4Addr::new(10, 250, self.index, host);
        ip(&["netns", "add", &netns])?;
        let network = PodNetwork {
            netns: netns.clone(),
            address,
        };
        ip(&[
            "link", "add", &outside, "type", "veth", "peer", "name", "eth0", "netns", &netns,
        ])?;
        ip(&[
            "link",
            "set",
            "dev",
            &outside,
            "master",
            &bridge_name(self.index),
            "up",
        ])?;
        let inside = |args: &[&str]| {
            let mut full = vec!["-n", netns.as_str()];
            full.extend_from_slice(args);
            ip(&full)
        };
        inside(&["addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
        inside(&["link", "set", "dev", "eth0", "up"])?;
        inside(&["link", "set", "dev", "lo", "up"])?;
        Ok(network)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        remove_bridge(self.index);
    }
}

/// One pod's network namespace and address; the namespace (and with it the veth pair) is
/// deleted on drop.
#[derive(Debug)]
pub(crate) struct PodNetwork {
    netns: String,
    address: Ipv4Addr,
}

impl PodNetwork {
    /// The namespace's name, for `ip netns exec`.
    pub(crate) fn netns(&self) -> &str {
        &self.netns
    }

    /// The pod IP.
    pub(crate) fn address(&self) -> Ipv4Addr {
        self.address
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.netns]);
    }
}

fn bridge_name(index: u8) -> String {
    format!("dscbr{index}")
}

/// A bridge whose alias names a runner process that no longer exists.
fn stale(name: &str) -> bool {
    let Ok(alias) = std::fs::read_to_string(format!("/sys/class/net/{name}/ifalias")) else {
        return false;
    };
    alias
        .trim()
        .strip_prefix("discovery-pods-")
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Deletes the bridge and every namespace and veth named for it.
fn remove_bridge(index: u8) {
    delete_named("/run/netns", &format!("dsc{index}-"), &["netns", "del"]);
    // A veth whose namespace still holds a process outlives the namespace's name.
    delete_named("/sys/class/net", &format!("dsv{index}x"), &["link", "del"]);
    let _ = ip(&["link", "del", &bridge_name(index)]);
}

/// Runs `ip <delete> <name>` for every entry of `dir` whose name starts with `prefix`.
fn delete_named(dir: &str, prefix: &str, delete: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) {
            let mut args = delete.to_vec();
            args.push(&name);
            let _ = ip(&args);
        }
    }
}

fn ip(args: &[&str]) -> Result<(), PodError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| PodError::Network {
            command: format!("ip {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(PodError::Network {
            command: format!("ip {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
