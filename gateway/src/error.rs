//! What a gateway command can fail with: the node's own errors, and the gateway's store and
//! client side.

/// A gateway command's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Config, keys, engine, topology, bonding: what every node shares.
    #[error(transparent)]
    Node(#[from] node::NodeError),
    /// The mailbox database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A validator URL cannot be used.
    #[error(transparent)]
    Validator(#[from] validator_client::ClientError),
    /// A certificate, key or CA file of `[tls]` is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] tls::pem::TlsFileError),
    /// The client side could not start.
    #[error("{what}: {source}")]
    ClientSide {
        /// What failed.
        what: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl From<router_core::runtime::RuntimeError> for GatewayError {
    fn from(error: router_core::runtime::RuntimeError) -> Self {
        GatewayError::Node(error.into())
    }
}

impl From<node::config::ConfigError> for GatewayError {
    fn from(error: node::config::ConfigError) -> Self {
        GatewayError::Node(error.into())
    }
}

impl From<validator_core::files::KeyFileError> for GatewayError {
    fn from(error: validator_core::files::KeyFileError) -> Self {
        GatewayError::Node(error.into())
    }
}
