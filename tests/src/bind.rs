//! A real authoritative DNS server, BIND 9 (`named`), serving the records a headless
//! Service has, so that discovery is checked against a standards-compliant server and
//! not only against the testkit's emulation of CoreDNS.
//!
//! Changes rewrite the zone files with a higher serial and send `SIGHUP` (reload).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One pod as published in the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePod {
    /// The pod's hostname (`redis-0`).
    pub hostname: String,
    /// Its address.
    pub ip: IpAddr,
}

/// A headless Service as published in the zone, in namespace `default`.
#[derive(Debug, Clone)]
pub struct ZoneService {
    /// The Service's name.
    pub name: String,
    /// A named TCP port, or `None` for no SRV records at all.
    pub port: Option<(String, u16)>,
    /// The ready pods.
    pub pods: Vec<ZonePod>,
}

/// A running `named`, killed on drop.
#[derive(Debug)]
pub struct Bind {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
    serial: u32,
    ttl: u32,
}

impl Bind {
    /// Starts `named` on a free loopback port serving `cluster.local` and `in-addr.arpa`.
    ///
    /// # Panics
    ///
    /// If `named` is not installed (`scripts/test` installs it) or does not start.
    pub fn start(ttl: u32, services: &[ZoneService]) -> Self {
        let port = {
            let probe = UdpSocket::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("local addr").port()
        };
        let dir =
            std::env::temp_dir().join(format!("discovery-bind-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = format!(
            r#"options {{
    directory "{dir}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{dir}/named.pid";
    recursion no;
    notify no;
    dnssec-validation no;
    max-records-per-type 0;
}};
controls {{ }};
zone "cluster.local" {{ type primary; file "{dir}/cluster.local.zone"; }};
zone "in-addr.arpa" {{ type primary; file "{dir}/reverse.zone"; }};
"#,
            dir = dir.display()
        );
        std::fs::write(dir.join("named.conf"), conf).expect("named.conf");
        write_zones(&dir, ttl, 1, services);
        let named = std::env::var("NAMED").unwrap_or_else(|_| "/usr/sbin/named".into());
        let log = std::fs::File::create(dir.join("named.log")).expect("log file");
        let child = Command::new(&named)
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.join("named.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {named} (install bind9; scripts/test does): {e}"));
        Self {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            serial: 1,
            ttl,
        }
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Publishes `services` instead of what was there, and reloads.
    ///
    /// # Panics
    ///
    /// If the zone files cannot be written or the signal not sent.
    pub fn publish(&mut self, services: &[ZoneService]) {
        self.serial += 1;
        write_zones(&self.dir, self.ttl, self.serial, services);
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "reloading named failed");
    }

    /// What `named` logged so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }
}

/// Writes the forward and reverse zones for `services`.
fn write_zones(dir: &Path, ttl: u32, serial: u32, services: &[ZoneService]) {
    let soa = format!(
        "$TTL {ttl}\n@ {ttl} IN SOA ns.dns.cluster.local. hostmaster.cluster.local. {serial} 7200 1800 86400 {ttl}\n@ IN NS ns.dns.cluster.local.\n"
    );
    let mut forward = format!("{soa}ns.dns IN A 127.0.0.1\n");
    let mut reverse = soa.clone();
    for service in services {
        let svc = format!("{}.default.svc", service.name);
        let n = service.pods.len().max(1);
        for pod in &service.pods {
            let rtype = if pod.ip.is_ipv4() { "A" } else { "AAAA" };
            let _ = writeln!(forward, "{svc} IN {rtype} {}", pod.ip);
            let _ = writeln!(forward, "{}.{svc} IN {rtype} {}", pod.hostname, pod.ip);
            if let Some((port_name, port)) = &service.port {
                let _ = writeln!(
                    forward,
                    "_{port_name}._tcp.{svc} IN SRV 0 {} {port} {}.{svc}.cluster.local.",
                    100 / n,
                    pod.hostname
                );
                let _ = writeln!(
                    forward,
                    "{svc} IN SRV 0 {} {port} {}.{svc}.cluster.local.",
                    100 / n,
                    pod.hostname
                );
            }
            if let IpAddr::V4(v4) = pod.ip {
                let [a, b, c, d] = v4.octets();
                let _ = writeln!(
                    reverse,
                    "{d}.{c}.{b}.{a} IN PTR {}.{svc}.cluster.local.",
                    pod.hostname
                );
            }
        }
    }
    std::fs::write(dir.join("cluster.local.zone"), forward).expect("forward zone");
    std::fs::write(dir.join("reverse.zone"), reverse).expect("reverse zone");
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
