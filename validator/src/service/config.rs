//! The validator's TOML configuration and the files it names.
//!
//! ```toml
//! [validator]
//! listen = "127.0.0.1:8000"          # where the HTTP API listens
//! genesis = "genesis.toml"           # paths are relative to this file's directory
//! identity_key = "identity.key"
//!
//! [limits]                           # optional: the mempool
//! pending_transactions = 20000
//! pending_per_account = 64
//! pending_bytes = 33554432
//!
//! [api]                              # optional: per-address limits of the HTTP API
//! read_per_second = 200              # GETs (status, topology, genesis, accounts, ...)
//! read_burst = 2000
//! write_per_second = 50              # statements, Sphinx keys, blind signing, spends
//! write_burst = 500
//! peer_per_second = 500              # relays from the other validators (signed)
//! peer_burst = 10000
//! tracked_addresses = 16384          # addresses with their own buckets (then one shared)
//! concurrent_verifications = 4       # proof and signature checks running at once
//! verification_wait_ms = 2000        # longest wait for one before a 503 `busy`
//!
//! [chain]                            # optional
//! data_dir = "data"                  # blocks, certificates, the consensus WAL
//! block_interval_ms = 1000           # least time between blocks
//! max_clock_drift_ms = 2000          # how far ahead of our clock a block's time may be
//! p2p_listen = "0.0.0.0:27000"       # default: this validator's p2p_address in the genesis
//! timeout_propose_ms = 3000          # consensus round timeouts
//! timeout_vote_ms = 1000
//! sync_status_interval_ms = 2000     # how often peers announce their height (catch-up)
//! snapshot_interval_blocks = 1000    # the state is written every so many blocks
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::rate_limit::{Rate, Rates};
use crate::chain::app::BlockTiming;
use validator_core::chain::MempoolLimits;
use validator_core::coconut::{SecretKey, SignerIndex};
use validator_core::files::{read_secret, write_secret_text, KeyFileError};
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

/// A section that is no longer read: its presence is refused with what replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetiredSection;

impl<'de> Deserialize<'de> for RetiredSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Self)
    }
}

/// The `[limits]` section: the mempool's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Transactions pending.
    pub pending_transactions: usize,
    /// Transactions pending per account.
    pub pending_per_account: usize,
    /// Bytes pending.
    pub pending_bytes: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let d = MempoolLimits::default();
        Self {
            pending_transactions: d.max_txs,
            pending_per_account: d.per_account,
            pending_bytes: d.max_bytes,
        }
    }
}

/// The `[api]` section: what one address may ask of the HTTP API, and how much proof
/// checking runs at once (see [`super::rate_limit`] and [`super::admission`]). The defaults
/// let a whole local network (clients, nodes, gateways and the other validators all on
/// 127.0.0.1) start and run; a benchmark that submits as fast as it can raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Reads per second per address.
    pub read_per_second: u32,
    /// Reads an idle address may send at once.
    pub read_burst: u32,
    /// Submissions (statements, Sphinx keys, blind signing, spends) per second per address.
    pub write_per_second: u32,
    /// Submissions an idle address may send at once.
    pub write_burst: u32,
    /// Peer relays per second per address (before and after their signature checks).
    pub peer_per_second: u32,
    /// Peer relays an idle address may send at once.
    pub peer_burst: u32,
    /// Addresses tracked with their own buckets; newcomers beyond share one.
    pub tracked_addresses: usize,
    /// Transaction and proof checks that run at once (the rest wait).
    pub concurrent_verifications: usize,
    /// The longest a request waits for a check to start before it is refused with 503
    /// `busy`, ms.
    pub verification_wait_ms: u64,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            read_per_second: 200,
            read_burst: 2_000,
            write_per_second: 50,
            write_burst: 500,
            peer_per_second: 500,
            peer_burst: 10_000,
            tracked_addresses: 16_384,
            concurrent_verifications: 4,
            verification_wait_ms: 2_000,
        }
    }
}

impl ApiSection {
    /// The buckets' rates.
    pub fn rates(&self) -> Rates {
        Rates {
            read: Rate {
                per_second: self.read_per_second,
                burst: self.read_burst,
            },
            write: Rate {
                per_second: self.write_per_second,
                burst: self.write_burst,
            },
            peer: Rate {
                per_second: self.peer_per_second,
                burst: self.peer_burst,
            },
        }
    }
}

/// The `[chain]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSection {
    /// Blocks, certificates and the consensus WAL.
    pub data_dir: PathBuf,
    /// Least time between a block and its parent, ms.
    pub block_interval_ms: u64,
    /// How far a proposed block's time may be ahead of this validator's clock, ms.
    pub max_clock_drift_ms: u64,
    /// Where to listen for consensus traffic, if not at the genesis's `p2p_address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p2p_listen: Option<SocketAddr>,
    /// How long a round waits for its proposal, ms (grows by half of it each round).
    pub timeout_propose_ms: u64,
    /// How long a round waits for prevotes and for precommits, ms.
    pub timeout_vote_ms: u64,
    /// How often validators announce their height to each other (catch-up), ms.
    pub sync_status_interval_ms: u64,
    /// The application state is written every this many blocks, so a restart replays at most
    /// this many.
    pub snapshot_interval_blocks: u64,
}

impl Default for ChainSection {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            block_interval_ms: 1_000,
            max_clock_drift_ms: 2_000,
            p2p_listen: None,
            timeout_propose_ms: 3_000,
            timeout_vote_ms: 1_000,
            sync_status_interval_ms: 2_000,
            snapshot_interval_blocks: 1_000,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[validator]`.
    pub validator: ValidatorSection,
    /// `[coconut]`: refused with an explanation (the keys come from the chain now).
    #[serde(default, skip_serializing)]
    pub coconut: Option<RetiredSection>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[api]`.
    #[serde(default)]
    pub api: ApiSection,
    /// `[chain]`.
    #[serde(default)]
    pub chain: ChainSection,
    /// `[tls]`: the API over HTTPS (`cert_file`, `key_file`), and CA files trusted for the
    /// other validators' `https://` APIs (`ca_files`).
    #[serde(default)]
    pub tls: tls::config::TlsSection,
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
    /// The data directory (resolved).
    pub data_dir: PathBuf,
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
        if config.coconut.is_some() {
            return Err(field(
                "coconut",
                "is no longer read: the validators generate the Coconut keys together on the \
                 chain (distributed key generation); remove the section and its key files",
            ));
        }
        if let Err((name, reason)) = config.tls.server_files() {
            return Err(field(name, reason));
        }
        if config.validator.listen.port() == 0 {
            return Err(field("validator.listen", "port 0 is not a fixed address"));
        }
        let limits = &config.limits;
        for (name, value) in [
            ("limits.pending_transactions", limits.pending_transactions),
            ("limits.pending_per_account", limits.pending_per_account),
            ("limits.pending_bytes", limits.pending_bytes),
        ] {
            if value == 0 {
                return Err(field(name, "must be at least 1"));
            }
        }
        let api = &config.api;
        for (name, value) in [
            ("api.read_per_second", api.read_per_second),
            ("api.read_burst", api.read_burst),
            ("api.write_per_second", api.write_per_second),
            ("api.write_burst", api.write_burst),
            ("api.peer_per_second", api.peer_per_second),
            ("api.peer_burst", api.peer_burst),
        ] {
            if value == 0 {
                return Err(field(name, "must be at least 1"));
            }
        }
        for (name, value) in [
            ("api.tracked_addresses", api.tracked_addresses),
            ("api.concurrent_verifications", api.concurrent_verifications),
        ] {
            if value == 0 {
                return Err(field(name, "must be at least 1"));
            }
        }
        if api.tracked_addresses > 10_000_000 {
            return Err(field(
                "api.tracked_addresses",
                "at most 10000000 (about 100 bytes each)",
            ));
        }
        if api.verification_wait_ms > 60_000 {
            return Err(field("api.verification_wait_ms", "at most 60000"));
        }
        let chain = &config.chain;
        if chain.block_interval_ms == 0 || chain.block_interval_ms > 60_000 {
            return Err(field(
                "chain.block_interval_ms",
                "must be between 1 and 60000",
            ));
        }
        if chain.timeout_propose_ms <= chain.block_interval_ms {
            return Err(field(
                "chain.timeout_propose_ms",
                "must be longer than chain.block_interval_ms (a proposer waits the interval first)",
            ));
        }
        for (name, value) in [
            ("chain.timeout_vote_ms", chain.timeout_vote_ms),
            (
                "chain.sync_status_interval_ms",
                chain.sync_status_interval_ms,
            ),
        ] {
            if value == 0 {
                return Err(field(name, "must be at least 1"));
            }
        }
        if chain.p2p_listen.is_some_and(|a| a.port() == 0) {
            return Err(field("chain.p2p_listen", "port 0 is not a fixed address"));
        }
        Ok(config)
    }

    /// The mempool's limits.
    pub fn mempool_limits(&self) -> MempoolLimits {
        MempoolLimits {
            max_txs: self.limits.pending_transactions,
            per_account: self.limits.pending_per_account,
            max_bytes: self.limits.pending_bytes,
        }
    }

    /// Block timing.
    pub fn block_timing(&self) -> BlockTiming {
        BlockTiming {
            interval_ms: self.chain.block_interval_ms,
            max_drift_ms: self.chain.max_clock_drift_ms,
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
        let data_dir = resolve(&config.chain.data_dir);
        let mut config = config;
        config.tls = config.tls.resolved(dir);
        Ok(Loaded {
            config,
            genesis,
            genesis_toml,
            identity,
            data_dir,
        })
    }
}

fn coconut_error(path: &Path, message: impl ToString) -> ConfigError {
    ConfigError::Coconut {
        path: path.display().to_string(),
        message: message.to_string(),
    }
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
        assert_eq!(c.chain, ChainSection::default());
        assert_eq!(c.api, ApiSection::default());
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
        let zero = format!("{GOOD}[limits]\npending_transactions = 0\n");
        let e = Config::parse(&zero, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("pending_transactions"), "{e}");
        let slow = format!("{GOOD}[chain]\nblock_interval_ms = 5000\n");
        let e = Config::parse(&slow, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("chain.timeout_propose_ms"), "{e}");
        let zero = format!("{GOOD}[api]\nwrite_burst = 0\n");
        let e = Config::parse(&zero, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("api.write_burst"), "{e}");
        let zero = format!("{GOOD}[api]\nconcurrent_verifications = 0\n");
        let e = Config::parse(&zero, Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("api.concurrent_verifications"),
            "{e}"
        );
        let typo = format!("{GOOD}[api]\nwrites_per_second = 5\n");
        let e = Config::parse(&typo, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("writes_per_second"), "{e}");
        let set = format!("{GOOD}[api]\nwrite_per_second = 5\nwrite_burst = 7\n");
        let c = Config::parse(&set, Path::new("c.toml")).unwrap();
        assert_eq!(
            c.api.rates().write,
            Rate {
                per_second: 5,
                burst: 7
            }
        );
        assert_eq!(c.api.read_burst, ApiSection::default().read_burst);
        let unknown = format!("{GOOD}[chain]\nblock_time = 1\n");
        let e = Config::parse(&unknown, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("block_time"), "{e}");
    }
}
