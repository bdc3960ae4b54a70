//! The network's own CA ([`Options::tls`](crate::Options::tls)): it issues each validator's
//! API certificate and each gateway's client-port certificate (for 127.0.0.1), and every
//! process of the network, this one included, trusts it through `--ca-file` or its config.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tls::local_ca::{IssuedFiles, Leaf, LocalCa};

use crate::Error;

/// The CA and its certificate file.
pub(super) struct NetworkCa {
    ca: LocalCa,
    file: PathBuf,
}

impl std::fmt::Debug for NetworkCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkCa")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl NetworkCa {
    /// A new CA with its certificate in `dir/ca.pem`; this process trusts it from now on.
    pub(super) fn create(dir: &Path) -> Result<Self, Error> {
        let failed = |e: String| Error::io(format!("the network's TLS CA: {e}"));
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        let ca = LocalCa::new("mixnet localnet CA").map_err(|e| failed(e.to_string()))?;
        let file = dir.join("ca.pem");
        ca.write_cert(&file).map_err(|e| failed(e.to_string()))?;
        tls::client::trust_ca_files(std::slice::from_ref(&file))
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self { ca, file })
    }

    /// A certificate for 127.0.0.1 in `dir/NAME.crt` and `dir/NAME.key`.
    pub(super) fn issue(&self, dir: &Path, name: &str) -> Result<IssuedFiles, Error> {
        let leaf = Leaf {
            names: &["localhost"],
            addresses: &[Ipv4Addr::LOCALHOST.into()],
            expired: false,
        };
        self.ca
            .issue(&leaf, dir, name)
            .map_err(|e| Error::io(format!("issuing {name}'s certificate: {e}")))
    }

    /// The CA certificate file.
    pub(super) fn file(&self) -> &Path {
        &self.file
    }

    /// `--ca-file FILE`, for every `init` that talks to a validator or a gateway.
    pub(super) fn flags(&self) -> Vec<String> {
        vec!["--ca-file".to_owned(), self.file.display().to_string()]
    }
}
