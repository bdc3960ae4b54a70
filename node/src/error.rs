//! What can go wrong starting, running or administering a node, each naming the file, field,
//! flag or peer at fault.

use std::path::PathBuf;

use validator_core::files::{HomeError, IdError, KeyFileError};

use crate::config::ConfigError;

/// A node command's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The config file cannot be read, parsed or used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key file cannot be read or written.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// No home directory could be found.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The node id is not a usable directory name.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot create", "cannot write", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A certificate, key or CA file of `[tls]` is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] tls::pem::TlsFileError),
    /// A command-line flag's value cannot be used.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--cpus`.
        flag: &'static str,
        /// Why.
        message: String,
    },
    /// The node refuses to do what it was asked, for the reason given.
    #[error("{0}")]
    Refused(String),
    /// The packet engine could not start or stopped with an error.
    #[error("router: {0}")]
    Router(#[from] router_core::runtime::RuntimeError),
    /// The replay filter cannot be restored or saved.
    #[error("replay filter {}: {message}", path.display())]
    ReplayFilter {
        /// Its file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// A validator could not be asked, or refused.
    #[error(transparent)]
    Validator(#[from] validator_client::ClientError),
    /// The chain's genesis cannot be loaded or fetched.
    #[error(transparent)]
    Genesis(#[from] validator_client::PinError),
    /// A system facility (signals, a runtime, a socket) is not available.
    #[error("{what}: {source}")]
    System {
        /// The facility.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Output could not be encoded.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        message: String,
    },
}

impl NodeError {
    /// An IO failure on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| NodeError::Io {
            action,
            path,
            source,
        }
    }
}
