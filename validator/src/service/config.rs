//! The validator's TOML configuration and the files it names.
//!
//! ```toml
//! [validator]
//! listen = "127.0.0.1:8000"          # where the HTTP API listens
//! genesis = "genesis.toml"           # paths are relative to this file's directory
//! identity_key = "identity.key"
//!
//! [coconut]                          # optional: without it the validator issues nothing
//! secret_key = "coconut.key"         # from `validator keygen`
//! verification_keys = "verification-keys.json"
//!
//! [limits]                           # optional
//! pending_per_epoch = 20000
//! pending_per_account = 64
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::issuer::Issuer;
use super::state::PoolLimits;
use validator_core::coconut::{SecretKey, SignerIndex};
use validator_core::credential::VerificationKeySet;
use validator_core::files::{read_secret, read_secret_text, write_secret_text, KeyFileError};
use validator_core::genesis::Genesis;

/// The `[validator]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSection {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The ed25519 identity secret key file.
    pub identity_key: PathBuf,
}

/// The `[coconut]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoconutSection {
    /// This validator's key share (`coconut-<i>.key` from keygen).
    pub secret_key: PathBuf,
    /// The published key set (`verification-keys.json` from keygen).
    pub verification_keys: PathBuf,
}

/// The `[limits]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Statements pending per epoch.
    #[serde(default = "default_per_epoch")]
    pub pending_per_epoch: usize,
    /// Statements pending per account per epoch.
    #[serde(default = "default_per_account")]
    pub pending_per_account: usize,
}

fn default_per_epoch() -> usize {
    PoolLimits::default().per_epoch
}

fn default_per_account() -> usize {
    PoolLimits::default().per_account
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            pending_per_epoch: default_per_epoch(),
            pending_per_account: default_per_account(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[validator]`.
    pub validator: ValidatorSection,
    /// `[coconut]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coconut: Option<CoconutSection>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
}

/// A configuration problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TOML is invalid or has unknown or missing fields.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the field).
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {field}: {reason}")]
    Field {
        /// The file.
        path: String,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The genesis file is invalid.
    #[error("genesis: {0}")]
    Genesis(#[from] validator_core::genesis::GenesisError),
    /// A key file is unusable.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The Coconut keys do not fit together.
    #[error("{path}: {message}")]
    Coconut {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A key share as stored by `validator keygen`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoconutKeyFile {
    /// The signer index.
    pub index: SignerIndex,
    /// The secret key share.
    pub secret_key: SecretKey,
}

/// A loaded configuration with everything it names read and checked.
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The genesis.
    pub genesis: Genesis,
    /// The genesis file's text, served as is.
    pub genesis_toml: String,
    /// The identity key.
    pub identity: SigningKey,
    /// The Coconut authority, if configured.
    pub issuer: Option<Issuer>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Parses a configuration file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let field = |field, reason: &str| ConfigError::Field {
            path: path.display().to_string(),
            field,
            reason: reason.to_owned(),
        };
        if config.validator.listen.port() == 0 {
            return Err(field("validator.listen", "port 0 is not a fixed address"));
        }
        if config.limits.pending_per_epoch == 0 {
            return Err(field("limits.pending_per_epoch", "must be at least 1"));
        }
        if config.limits.pending_per_account == 0 {
            return Err(field("limits.pending_per_account", "must be at least 1"));
        }
        Ok(config)
    }

    /// The pool limits.
    pub fn pool_limits(&self) -> PoolLimits {
        PoolLimits {
            per_epoch: self.limits.pending_per_epoch,
            per_account: self.limits.pending_per_account,
        }
    }

    /// Reads the configuration at `path` and every file it names (relative paths from the
    /// configuration's directory).
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| ConfigError::Io { path: p, source }
        };
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let config = Self::parse(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| dir.join(p);

        let genesis_path = resolve(&config.validator.genesis);
        let genesis_toml = std::fs::read_to_string(&genesis_path).map_err(io(&genesis_path))?;
        let genesis = Genesis::from_toml_str(&genesis_toml).map_err(|e| ConfigError::Parse {
            path: genesis_path.display().to_string(),
            message: e.to_string(),
        })?;
        let identity_secret = read_secret(&resolve(&config.validator.identity_key))?;
        let identity = SigningKey::from_bytes(&identity_secret);
        let issuer = match &config.coconut {
            None => None,
            Some(c) => Some(load_issuer(
                &resolve(&c.secret_key),
                &resolve(&c.verification_keys),
            )?),
        };
        Ok(Loaded {
            config,
            genesis,
            genesis_toml,
            identity,
            issuer,
        })
    }
}

fn coconut_error(path: &Path, message: impl ToString) -> ConfigError {
    ConfigError::Coconut {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Reads a key share and the key set and checks they fit.
pub fn load_issuer(secret_path: &Path, keys_path: &Path) -> Result<Issuer, ConfigError> {
    let secret_text = read_secret_text(secret_path)?;
    let share: CoconutKeyFile =
        serde_json::from_str(&secret_text).map_err(|e| coconut_error(secret_path, e))?;
    let keys_text = std::fs::read_to_string(keys_path).map_err(|source| ConfigError::Io {
        path: keys_path.display().to_string(),
        source,
    })?;
    let keys: VerificationKeySet =
        serde_json::from_str(&keys_text).map_err(|e| coconut_error(keys_path, e))?;
    Issuer::new(share.index, share.secret_key, keys).map_err(|e| coconut_error(keys_path, e))
}

/// Writes a key share to a new 0600 file.
pub fn write_coconut_key(path: &Path, file: &CoconutKeyFile) -> Result<(), ConfigError> {
    let text =
        zeroize::Zeroizing::new(serde_json::to_string(file).map_err(|e| coconut_error(path, e))?);
    write_secret_text(path, &text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = "[validator]\nlisten = \"127.0.0.1:8000\"\ngenesis = \"genesis.toml\"\n\
                        identity_key = \"identity.key\"\n";

    #[test]
    fn minimal_config_parses_with_default_limits() {
        let c = Config::parse(GOOD, Path::new("c.toml")).unwrap();
        assert_eq!(c.limits, LimitsSection::default());
        assert!(c.coconut.is_none());
        let again = Config::parse(&toml::to_string(&c).unwrap(), Path::new("c.toml")).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let unknown = format!("{GOOD}typo = 1\n");
        let e = Config::parse(&unknown, Path::new("/x/c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("/x/c.toml") && e.to_string().contains("typo"),
            "{e}"
        );
        let port0 = GOOD.replace("8000", "0");
        let e = Config::parse(&port0, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("validator.listen"), "{e}");
        let zero = format!("{GOOD}[limits]\npending_per_epoch = 0\n");
        let e = Config::parse(&zero, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("pending_per_epoch"), "{e}");
    }
}
