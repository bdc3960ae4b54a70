//! A server's certificate and the handshake.
//!
//! [`ServerTls::reload`] builds a new server configuration from the files and swaps it in
//! whole: connections from then on get the new certificate, open ones keep theirs, and no
//! session made under the old certificate resumes under the new one (the session cache goes
//! with the old configuration), so every client checks the new certificate. An operator
//! renews with a SIGHUP. A reload that fails (a file half-written, a key that does not
//! match) keeps the old certificate and says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::pem::{self, TlsFileError};

/// How long a client may take over the TLS handshake, unless the server says otherwise.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's TLS: its certificate files and the current certificate.
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    alpn: Vec<Vec<u8>>,
    current: RwLock<(Arc<CertifiedKey>, TlsAcceptor)>,
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Serves the chain in `cert` (PEM, leaf first) with the key in `key`, offering the ALPN
    /// protocols `alpn` (empty: none).
    pub fn load(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<Self, TlsFileError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let current = build(cert, key, &alpn)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            alpn,
            current: RwLock::new(current),
        })
    }

    /// Reads the files again and serves what they hold from the next connection on; on an
    /// error the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsFileError> {
        let fresh = build(&self.cert, &self.key, &self.alpn)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The certificate file.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// The DER of the leaf certificate served now.
    pub fn leaf(&self) -> Option<Vec<u8>> {
        let current = self.current.read().ok()?;
        current.0.cert.first().map(|c| c.to_vec())
    }

    /// The acceptor for a new connection (the current certificate's).
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.current.read().ok().map(|c| c.1.clone())
    }
}

/// The certificate in the files, and an acceptor serving it.
fn build(
    cert: &Path,
    key: &Path,
    alpn: &[Vec<u8>],
) -> Result<(Arc<CertifiedKey>, TlsAcceptor), TlsFileError> {
    let certified = load_key(cert, key)?;
    let mut config = ServerConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(cert, key, e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::clone(&certified))));
    config.alpn_protocols = alpn.to_vec();
    Ok((certified, TlsAcceptor::from(Arc::new(config))))
}

fn unusable(cert: &Path, key: &Path, e: rustls::Error) -> TlsFileError {
    TlsFileError::Unusable {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

fn load_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsFileError> {
    let chain = pem::certificates(cert)?;
    let private = pem::private_key(key)?;
    let certified = CertifiedKey::from_der(chain, private, &crate::provider())
        .map_err(|e| unusable(cert, key, e))?;
    Ok(Arc::new(certified))
}

/// Why a client's TLS handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// It did not finish in time (a silent or slow client).
    Timeout,
    /// The bytes were not a TLS client's, or the client gave up (for instance on our
    /// certificate).
    Failed,
}

impl HandshakeFailure {
    /// A label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Timeout => "tls_handshake_timeout",
            Self::Failed => "tls_handshake_failed",
        }
    }
}

/// The server side of the handshake on `stream` with `tls`'s current certificate, within
/// `timeout`.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &ServerTls,
    stream: S,
    timeout: Duration,
) -> Result<TlsStream<S>, HandshakeFailure> {
    let Some(acceptor) = tls.acceptor() else {
        return Err(HandshakeFailure::Failed);
    };
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            Err(HandshakeFailure::Failed)
        }
        Err(_) => Err(HandshakeFailure::Timeout),
    }
}

/// Reloads `tls` on every SIGHUP the process gets, logging the outcome, until the runtime
/// stops. Other SIGHUP listeners of the process still get theirs.
pub fn reload_on_sighup(tls: Arc<ServerTls>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => {
                    tracing::info!(cert = %tls.cert_file().display(), "TLS certificate reloaded")
                }
                Err(error) => {
                    tracing::error!(%error, "TLS certificate not reloaded; still serving the previous one")
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn a_reload_swaps_the_certificate_and_a_bad_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "a");
        let tls = ServerTls::load(&cert, &key, &[]).unwrap();
        let first = tls.leaf().unwrap();

        let (cert2, key2) = write_pair(dir.path(), "b");
        std::fs::copy(&cert2, &cert).unwrap();
        std::fs::copy(&key2, &key).unwrap();
        tls.reload().unwrap();
        let second = tls.leaf().unwrap();
        assert_ne!(first, second);

        // The certificate renewed without its key: refused, the served one stays.
        let (cert3, _) = write_pair(dir.path(), "c");
        std::fs::copy(&cert3, &cert).unwrap();
        let e = tls.reload().unwrap_err();
        assert!(matches!(e, TlsFileError::Unusable { .. }), "{e}");
        assert_eq!(tls.leaf().unwrap(), second);
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = write_pair(dir.path(), "a");
        let (_, other_key) = write_pair(dir.path(), "b");
        let e = ServerTls::load(&cert, &other_key, &[]).unwrap_err();
        assert!(e.to_string().contains("a.crt"), "{e}");
    }
}
