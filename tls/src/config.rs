//! The `[tls]` section every config file shares.
//!
//! ```toml
//! [tls]
//! cert_file = "tls/cert.pem"   # a server's chain, leaf first (PEM)
//! key_file = "tls/key.pem"     # its private key (PEM)
//! ca_files = ["ca.pem"]        # extra roots this process trusts when it connects
//! ```
//! Relative paths are from the config file's directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[tls]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain a server serves (with `key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Its private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// CA certificates trusted besides the platform's roots, for `https://` and `wss://`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_files: Vec<PathBuf>,
}

impl TlsSection {
    /// The section with its paths taken from `dir`.
    pub fn resolved(&self, dir: &Path) -> Self {
        Self {
            cert_file: self.cert_file.as_ref().map(|p| dir.join(p)),
            key_file: self.key_file.as_ref().map(|p| dir.join(p)),
            ca_files: self.ca_files.iter().map(|p| dir.join(p)).collect(),
        }
    }

    /// The certificate and key a server serves, if it serves TLS; an error names the field
    /// given without the other.
    pub fn server_files(&self) -> Result<Option<(&Path, &Path)>, (&'static str, &'static str)> {
        match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(("tls.key_file", "is needed with tls.cert_file")),
            (None, Some(_)) => Err(("tls.cert_file", "is needed with tls.key_file")),
        }
    }

    /// Installs `ca_files` as the process's extra roots ([`crate::client::trust_ca_files`]).
    pub fn trust(&self) -> Result<(), crate::pem::TlsFileError> {
        crate::client::trust_ca_files(&self.ca_files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_its_key_is_named() {
        let t: TlsSection = toml::from_str("cert_file = \"c.pem\"").unwrap();
        assert_eq!(t.server_files().unwrap_err().0, "tls.key_file");
        let t: TlsSection = toml::from_str("key_file = \"k.pem\"").unwrap();
        assert_eq!(t.server_files().unwrap_err().0, "tls.cert_file");
        let t: TlsSection = toml::from_str("").unwrap();
        assert_eq!(t.server_files().unwrap(), None);
        assert!(toml::from_str::<TlsSection>("certificate = \"x\"").is_err());
        let t: TlsSection =
            toml::from_str("cert_file = \"c.pem\"\nkey_file = \"/k.pem\"\nca_files = [\"ca.pem\"]")
                .unwrap();
        let r = t.resolved(Path::new("/etc/node"));
        assert_eq!(r.cert_file.as_deref(), Some(Path::new("/etc/node/c.pem")));
        assert_eq!(r.key_file.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(r.ca_files, vec![PathBuf::from("/etc/node/ca.pem")]);
    }
}
