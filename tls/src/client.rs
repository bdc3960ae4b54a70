//! The roots a client trusts.
//!
//! A process trusts the platform's roots, plus the CA files its config names
//! ([`trust_ca_files`], called once at start by each binary). Everything in the process that
//! connects over TLS (validator API calls, a gateway's websocket) takes [`config`], so a
//! library deep in the call graph needs no parameter threaded to it for this.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use rustls::RootCertStore;

pub use rustls::ClientConfig;

use crate::pem::{self, TlsFileError};

static INSTALLED: RwLock<Option<Arc<ClientConfig>>> = RwLock::new(None);
static PLATFORM: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// From now on, TLS connections of this process trust the platform's roots and every
/// certificate in `ca_files` (PEM). Replaces what an earlier call installed.
pub fn trust_ca_files(ca_files: &[PathBuf]) -> Result<(), TlsFileError> {
    let config = Arc::new(build(ca_files)?);
    if let Ok(mut installed) = INSTALLED.write() {
        *installed = Some(config);
    }
    Ok(())
}

/// The client configuration in force: what [`trust_ca_files`] installed, or the platform's
/// roots alone.
pub fn config() -> Arc<ClientConfig> {
    if let Some(installed) = INSTALLED.read().ok().and_then(|c| c.clone()) {
        return installed;
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
