//! [`NativeError`]: why a native client process (`client`, `socks5-client`,
//! `network-requester`) could not start or stopped. Each variant names what was at fault: the
//! file, the flag, the gateway or the validators; the binaries print its `Display`.
//!
//! The gateway session has its own [`SessionError`] (the link reports it while it
//! reconnects) and sending through the driver its own [`MixnetError`]; both convert into
//! [`NativeError`] with `?`.

use std::net::SocketAddr;
use std::path::PathBuf;

use validator_core::topology::EpochId;

use super::driver::MixnetError;
use super::session::SessionError;
use crate::core::AddressError;
use crate::requester::allow::AllowListError;

/// Why a native client process could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// No home directory was given and the environment names none.
    #[error(transparent)]
    Home(#[from] validator_core::files::HomeError),
    /// The client id cannot be a directory name.
    #[error(transparent)]
    Id(#[from] validator_core::files::IdError),
    /// A key file cannot be read or written.
    #[error(transparent)]
    Key(#[from] validator_core::files::KeyFileError),
    /// The chain's genesis cannot be loaded, fetched or pinned.
    #[error(transparent)]
    Genesis(#[from] validator_client::PinError),
    /// A validator could not be asked, or refused.
    #[error(transparent)]
    Validator(#[from] validator_client::ClientError),
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "writing", "creating", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The client's `config.toml` cannot be read: the client was never initialised (or the
    /// id is wrong).
    #[error("{}: {source} (run `client init` first)", path.display())]
    NotInitialised {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The client's `config.toml` does not parse.
    #[error("{}: {source}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What the parser said (line, column, field).
        source: Box<toml::de::Error>,
    },
    /// `init` was asked to create a client that exists.
    #[error("{} exists: client {id} is already initialised", path.display())]
    AlreadyInitialised {
        /// Its config file.
        path: PathBuf,
        /// The client's id.
        id: String,
    },
    /// A CA file cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] tls::pem::TlsFileError),
    /// `init` was given no `--validator`.
    #[error("give at least one --validator URL")]
    NoValidators,
    /// A command-line flag's value cannot be used.
    #[error("--{flag} must be {requirement}")]
    Flag {
        /// The flag, without its dashes (`send-gap-ms`).
        flag: &'static str,
        /// What its value must be.
        requirement: &'static str,
    },
    /// The `[gateway] identity` of `config.toml` is not a key.
    #[error("gateway identity {identity:?} is not a 32-byte base58 key")]
    GatewayIdentity {
        /// The configured text.
        identity: String,
    },
    /// The gateway's identity is 32 bytes but not an ed25519 public key.
    #[error("the gateway identity {identity}: {source}")]
    GatewayKey {
        /// The identity (base58).
        identity: String,
        /// Why it is not a key.
        source: ed25519_dalek::SignatureError,
    },
    /// No gateway could be chosen, or the chosen one's entry is unusable.
    #[error(transparent)]
    GatewayChoice(#[from] crate::core::gateway_choice::GatewayChoiceError),
    /// The validators serve no topology their signatures verify, for the whole wait.
    #[error("no verified topology: {source}")]
    Topology {
        /// The last fetch's error.
        source: validator_client::ClientError,
    },
    /// The verified topology cannot carry traffic (an empty layer or no gateway).
    #[error("the topology of epoch {epoch} is not routable")]
    Unroutable {
        /// Its epoch.
        epoch: EpochId,
    },
    /// A bandwidth credential could not be bought from the validators.
    #[error("obtaining a bandwidth credential: {source}")]
    Credential {
        /// The validators' error.
        source: validator_client::ClientError,
    },
    /// A gateway session failed (connecting, the handshake, the credential).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The gateway link did not connect in time.
    #[error("could not connect to the gateway at {url}")]
    GatewayUnreachable {
        /// The gateway's client URL.
        url: String,
    },
    /// The gateway link task stopped before it connected.
    #[error("the gateway link stopped")]
    LinkStopped,
    /// The mixnet side stopped or refused a message.
    #[error(transparent)]
    Mixnet(#[from] MixnetError),
    /// A listening socket could not be opened.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A signal could not be listened for.
    #[error("listening for {signal}: {source}")]
    Signal {
        /// The signal (`SIGHUP`).
        signal: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The network requester's allow list does not parse.
    #[error("the allow list {}: {source}", path.display())]
    AllowList {
        /// The file.
        path: PathBuf,
        /// The line at fault and why.
        source: AllowListError,
    },
    /// `--provider` is not a mixnet address.
    #[error("the network requester address given with --provider: {0}")]
    ProviderFlag(AddressError),
    /// The file naming the SOCKS5 client's network requester holds no mixnet address.
    #[error("the network requester address in {}: {source}", path.display())]
    ProviderFile {
        /// The file.
        path: PathBuf,
        /// Why it is not an address.
        source: AddressError,
    },
    /// Output could not be encoded.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl NativeError {
    /// An IO failure while doing `action` on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| NativeError::Io {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_is_at_fault() {
        let e = NativeError::io("reading", "/x/provider")(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "gone",
        ));
        assert_eq!(e.to_string(), "reading /x/provider: gone");
        let e = NativeError::Flag {
            flag: "send-gap-ms",
            requirement: "positive",
        };
        assert_eq!(e.to_string(), "--send-gap-ms must be positive");
        let e = NativeError::from(MixnetError::Stopped);
        assert_eq!(e.to_string(), "the mixnet client stopped");
    }
}
