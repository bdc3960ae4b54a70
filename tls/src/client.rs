//! The roots a client trusts.
//!
//! A process trusts the platform's roots, plus every CA file it was given
//! ([`trust_ca_files`], called at start by each binary with its config's files; calls add up,
//! so two parts of one process with different CAs both keep theirs). Everything in the
//! process that connects over TLS (validator API calls, a gateway's websocket) takes
//! [`config`] when it builds its client, so a library deep in the call graph needs no
//! parameter threaded to it for this; a client built before a call keeps what it had.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use rustls::RootCertStore;

pub use rustls::ClientConfig;

use crate::pem::{self, TlsFileError};

/// The CA files given so far, and the configuration trusting them.
static INSTALLED: RwLock<(Vec<PathBuf>, Option<Arc<ClientConfig>>)> =
    RwLock::new((Vec::new(), None));
static PLATFORM: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// From now on, TLS clients this process builds trust the platform's roots, every
/// certificate in `ca_files` (PEM), and the files of earlier calls. A file that does not load
/// is an error and changes nothing.
pub fn trust_ca_files(ca_files: &[PathBuf]) -> Result<(), TlsFileError> {
    let mut installed = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
    let mut files = installed.0.clone();
    for file in ca_files {
        if !files.contains(file) {
            files.push(file.clone());
        }
    }
    let config = Arc::new(build(&files)?);
    *installed = (files, Some(config));
    Ok(())
}

/// The client configuration in force: what [`trust_ca_files`] installed, or the platform's
/// roots alone.
pub fn config() -> Arc<ClientConfig> {
    let installed = INSTALLED.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(config) = &installed.1 {
        return Arc::clone(config);
    }
    Arc::clone(PLATFORM.get_or_init(|| {
        Arc::new(build(&[]).unwrap_or_else(|_| with_roots(RootCertStore::empty())))
    }))
}

/// A configuration trusting the platform's roots and `ca_files`.
pub fn build(ca_files: &[PathBuf]) -> Result<ClientConfig, TlsFileError> {
    let mut roots = RootCertStore::empty();
    let platform = rustls_native_certs::load_native_certs();
    for error in &platform.errors {
        tracing::debug!(%error, "a platform root store could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(platform.certs);
    tracing::debug!(added, ignored, "platform roots");
    for path in ca_files {
        add_ca_file(&mut roots, path)?;
    }
    Ok(with_roots(roots))
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsFileError> {
    for cert in pem::certificates(path)? {
        roots.add(cert).map_err(|e| TlsFileError::BadRoot {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

fn with_roots(roots: RootCertStore) -> ClientConfig {
    // The ring provider supports the safe default versions: this cannot fail.
    #[allow(clippy::expect_used)]
    ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}
