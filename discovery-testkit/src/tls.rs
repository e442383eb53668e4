//! A throw-away certificate authority for tests: certificates naming pod FQDNs, so that
//! clients can be checked to verify the name they expect while dialling an IP.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// A CA made for one test run. Its key never leaves the process.
pub struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] if key generation fails.
    pub fn new() -> Result<Self, Error> {
        let tls = |e: rcgen::Error| Error::Tls(e.to_string());
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "discovery-testkit CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(tls)?;
        let cert = params.self_signed(&key).map_err(tls)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, for clients to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for these DNS names and IPs.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] if a name is invalid or signing fails.
    pub fn issue(&self, dns_names: &[String], ips: &[IpAddr]) -> Result<Issued, Error> {
        let tls = |e: rcgen::Error| Error::Tls(e.to_string());
        let mut params = CertificateParams::new(dns_names.to_vec()).map_err(tls)?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        if let Some(first) = dns_names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        let key = KeyPair::generate().map_err(tls)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes, into `dir`, a certificate naming the pod's FQDN, hostname and IP
    /// (`tls.crt`), its key (`tls.key`) and this CA (`ca.crt`), as cert-manager would
    /// mount them into a pod.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] if issuing fails, [`Error::Process`] if a file cannot be written.
    pub fn write_pod_files(
        &self,
        dir: &Path,
        fqdn: &str,
        ip: IpAddr,
    ) -> Result<PodTlsFiles, Error> {
        let hostname = fqdn.split('.').next().unwrap_or(fqdn).to_owned();
        let issued = self.issue(&[fqdn.to_owned(), hostname], &[ip])?;
        let files = PodTlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            ca: dir.join("ca.crt"),
        };
        let write = |path: &Path, text: &str| {
            std::fs::write(path, text)
                .map_err(|e| Error::Process(format!("writing {}: {e}", path.display())))
        };
        write(&files.cert, &issued.cert_pem)?;
        write(&files.key, &issued.key_pem)?;
        write(&files.ca, self.cert_pem())?;
        Ok(files)
    }
}

/// Where [`TestCa::write_pod_files`] put a pod's TLS files.
#[derive(Debug, Clone)]
pub struct PodTlsFiles {
    /// The pod's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
}
