//! Certificates and keys from PEM files.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate or key file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no PEM certificate.
    #[error("{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no PEM private key.
    #[error("{}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// A PEM section does not decode.
    #[error("{}: bad PEM: {reason}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The certificate and key cannot serve together (unsupported key type, or a key that
    /// is not the certificate's).
    #[error("{} with {}: {reason}", cert.display(), key.display())]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// A CA file's certificate was refused as a trust root.
    #[error("{}: not a usable CA certificate: {reason}", path.display())]
    BadRoot {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in the PEM file at `path`, in order (a chain: the leaf first); at
/// least one.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFileError::BadPem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsFileError::NoKey {
            path: path.to_owned(),
        },
        other => TlsFileError::BadPem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_and_a_key_are_read_and_every_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        let two = format!("{}{}", cert.cert.pem(), cert.cert.pem());
        std::fs::write(&cert_path, two).unwrap();
        std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
        assert_eq!(certificates(&cert_path).unwrap().len(), 2);
        assert!(private_key(&key_path).is_ok());

        // A key file given as the certificate, and the other way round.
        let e = certificates(&key_path).unwrap_err();
        assert!(matches!(e, TlsFileError::NoCertificate { .. }), "{e}");
        assert!(e.to_string().contains("key.pem"), "{e}");
        let e = private_key(&cert_path).unwrap_err();
        assert!(matches!(e, TlsFileError::NoKey { .. }), "{e}");
        // Missing, and garbage inside the armour.
        let missing = dir.path().join("missing.pem");
        let e = certificates(&missing).unwrap_err();
        assert!(matches!(e, TlsFileError::Read { .. }) && e.to_string().contains("missing.pem"));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = certificates(&garbage).unwrap_err();
        assert!(matches!(e, TlsFileError::BadPem { .. }), "{e}");
    }
}
