//! A certificate authority of our own, for local networks and tests: `bench localnet` runs
//! every API and client port over TLS with certificates it issues, and tests issue the bad
//! ones (expired, for another host) they need. Never for a public deployment: its key sits
//! in a file next to the network it signs for.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

/// A CA: its certificate (the root clients trust) and key.
pub struct LocalCa {
    cert: Certificate,
    key: KeyPair,
}

/// A certificate and key as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    /// The certificate (the leaf alone; the root is the CA's file).
    pub cert: PathBuf,
    /// Its key (mode 0600).
    pub key: PathBuf,
}

/// What a leaf certificate is for.
#[derive(Debug, Clone)]
pub struct Leaf<'a> {
    /// Host names it is valid for.
    pub names: &'a [&'a str],
    /// Addresses it is valid for.
    pub addresses: &'a [IpAddr],
    /// Already expired (for tests of what a client does with one).
    pub expired: bool,
}

impl LocalCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA certificate to `path` (what clients are given as their CA file).
    pub fn write_cert(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.cert_pem())
    }

    /// Issues a server certificate for `leaf` and writes it to `dir/NAME.crt` and
    /// `dir/NAME.key`.
    pub fn issue(&self, leaf: &Leaf<'_>, dir: &Path, name: &str) -> std::io::Result<IssuedFiles> {
        let (cert, key) = self.issue_pem(leaf).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let files = IssuedFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert)?;
        write_private(&files.key, &key)?;
        Ok(files)
    }

    /// The certificate and key for `leaf`, PEM.
    pub fn issue_pem(&self, leaf: &Leaf<'_>) -> Result<(String, String), rcgen::Error> {
        let mut params =
            CertificateParams::new(leaf.names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        params
            .subject_alt_names
            .extend(leaf.addresses.iter().map(|a| SanType::IpAddress(*a)));
        params.distinguished_name.push(
            DnType::CommonName,
            leaf.names.first().copied().unwrap_or("mixnet node"),
        );
        if leaf.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}
