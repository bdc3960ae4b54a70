//! The genesis file: the TOML document every validator of a chain starts from.
//!
//! ```toml
//! chain_id = "mixnet-devnet-1"
//! genesis_time_unix_ms = 1767225600000
//! epoch_length_ms = 3600000
//! threshold = 2            # topology signatures (and credential shares) needed
//! minimum_bond = 100       # units of stake a node needs to be eligible for the active set
//!
//! [active_set]
//! mixnodes = 9             # K, at least 3 (one per layer)
//! gateways = 3             # G, at least 1
//!
//! [[accounts]]
//! public_key = "<base58 ed25519 public key>"
//! balance = 1000
//!
//! [[validators]]
//! identity_key = "<base58 ed25519 public key>"
//! api_url = "https://validator-1.example:8080"
//! p2p_address = "192.0.2.10:27000"   # consensus traffic between validators (TCP)
//! voting_power = 1                 # optional, default 1
//!
//! [key_rotation]            # optional: without it, nodes keep their bonded Sphinx key
//! length_ms = 86400000      # a multiple of epoch_length_ms; default a day
//! overlap_ms = 600000       # previous key still accepted this long; default 10 min
//! ```
//!
//! Loading parses into a raw shape first (unknown fields are refused) and then validates every
//! field, so an error always names the file and the field (`accounts[2].public_key`, ...).
//!
//! [`Genesis::genesis_hash`] identifies the chain: it is bound into every signed statement and
//! every topology signature, so nothing signed for one chain is valid on another.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::primitives::{hash32_type, sha256, IdentityKey};
use crate::rotation::{KeyRotationParams, RawKeyRotation, RotationSchedule};

/// A quantity of stake or balance, in indivisible units.
pub type Amount = u64;

/// Domain-separation prefix of the genesis hash.
pub const GENESIS_HASH_DOMAIN: &[u8] = b"mixnet-validator-genesis-v1";

/// Longest accepted `chain_id`.
pub const MAX_CHAIN_ID_LEN: usize = 64;
/// Longest accepted validator `api_url`.
pub const MAX_API_URL_LEN: usize = 512;

hash32_type!(
    /// SHA-256 identifying a chain's genesis (see [`Genesis::genesis_hash`]).
    GenesisHash
);

/// Why a genesis file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML of the genesis schema (syntax, missing or unknown field, wrong
    /// type). toml's message names the key and shows the offending line.
    #[error("genesis {origin}: {source}")]
    Toml {
        /// The file, or `<string>`.
        origin: String,
        /// toml's error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A field parsed but its value is not acceptable.
    #[error("genesis {origin}: field `{field}`: {reason}")]
    Field {
        /// The file, or `<string>` / `<in-memory>`.
        origin: String,
        /// Path of the field, e.g. `validators[1].identity_key`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Serializing to TOML failed (a value out of TOML's integer range).
    #[error("genesis: cannot encode as TOML: {0}")]
    Encode(String),
}

impl GenesisError {
    /// The offending field's path, for [`GenesisError::Field`].
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Sizes of the active set chosen each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveSetSize {
    /// K: mixnodes selected per epoch (spread over 3 layers).
    pub mixnodes: u32,
    /// G: gateways selected per epoch.
    pub gateways: u32,
}

/// When the validators run the distributed key generation of the Coconut keys
/// ([`crate::chain::dkg`]), in blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DkgSchedule {
    /// The longest a phase of a key generation waits for a validator that has not sent its
    /// message, in blocks; at least 1. A phase ends earlier once every validator has.
    pub phase_blocks: u64,
    /// A new key epoch (a fresh key generation) starts every this many blocks after the
    /// previous one completed; 0 runs the key generation once, at genesis.
    pub key_epoch_blocks: u64,
    /// Credentials of a key epoch stay spendable this many blocks after the next key epoch's
    /// keys are complete, then are refused.
    pub grace_blocks: u64,
}

impl Default for DkgSchedule {
    fn default() -> Self {
        Self {
            phase_blocks: 20,
            key_epoch_blocks: 0,
            grace_blocks: 100_000,
        }
    }
}

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenesisAccount {
    /// The account's ed25519 key; statements from the account are signed with it.
    pub public_key: IdentityKey,
    /// Initial balance.
    pub balance: Amount,
}

/// A member of the validator set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenesisValidator {
    /// The key the validator signs topologies (and statements it relays) with.
    pub identity_key: IdentityKey,
    /// Base URL of its HTTP API.
    pub api_url: String,
    /// Where it listens for the other validators' consensus traffic (TCP); distinct per
    /// validator.
    pub p2p_address: SocketAddr,
    /// Its weight in consensus votes; at least 1 (default 1). Blocks need votes of more than
    /// two thirds of the total weight, so the chain tolerates faulty validators holding less
    /// than a third of it.
    pub voting_power: u64,
}

/// A validated genesis. Build it with [`Genesis::from_toml_str`] or [`Genesis::load`]; a value
/// built by hand should be checked with [`Genesis::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Genesis {
    /// Human-readable chain name (`[A-Za-z0-9._-]`, at most 64 characters).
    pub chain_id: String,
    /// Start of epoch 0, Unix milliseconds.
    pub genesis_time_unix_ms: u64,
    /// Length of every epoch, milliseconds; nonzero.
    pub epoch_length_ms: u64,
    /// Signatures from distinct validators needed for a topology (and credential shares
    /// needed for a credential); between 1 and the number of validators.
    pub threshold: u32,
    /// Stake a node needs to be eligible for the active set; at least 1.
    pub minimum_bond: Amount,
    /// K and G.
    pub active_set: ActiveSetSize,
    /// Funded accounts; keys distinct, total balance fits in a `u64`.
    pub accounts: Vec<GenesisAccount>,
    /// The validator set; keys distinct, at least one.
    pub validators: Vec<GenesisValidator>,
    /// The key generation's schedule (`[dkg]`, optional: [`DkgSchedule::default`]).
    pub dkg: DkgSchedule,
    /// Sphinx key rotation (`[key_rotation]`, optional: without it nodes keep the static key
    /// they bonded with; see [`crate::rotation`]).
    pub key_rotation: Option<KeyRotationParams>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    public_key: String,
    balance: Amount,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidator {
    identity_key: String,
    api_url: String,
    p2p_address: SocketAddr,
    #[serde(default = "default_voting_power")]
    voting_power: u64,
}

fn default_voting_power() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenesis {
    chain_id: String,
    genesis_time_unix_ms: u64,
    epoch_length_ms: u64,
    threshold: u32,
    minimum_bond: Amount,
    active_set: ActiveSetSize,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    validators: Vec<RawValidator>,
    #[serde(default)]
    dkg: DkgSchedule,
    #[serde(default)]
    key_rotation: Option<RawKeyRotation>,
}

/// The view of a genesis that is hashed: the same fields with accounts and validators sorted
/// by key, so reordering entries in the file does not change the chain's identity.
#[derive(Serialize)]
struct CanonicalGenesis<'a> {
    chain_id: &'a str,
    genesis_time_unix_ms: u64,
    epoch_length_ms: u64,
    threshold: u32,
    minimum_bond: Amount,
    active_set: ActiveSetSize,
    accounts: Vec<&'a GenesisAccount>,
    validators: Vec<&'a GenesisValidator>,
    dkg: DkgSchedule,
    // Absent from the hashed JSON when absent from the file, so genesis hashes of chains
    // made before rotation existed do not change.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_rotation: Option<KeyRotationParams>,
}

fn field_err(origin: &str, field: impl Into<String>, reason: impl Into<String>) -> GenesisError {
    GenesisError::Field {
        origin: origin.to_owned(),
        field: field.into(),
        reason: reason.into(),
    }
}

impl Genesis {
    /// Parses and validates genesis TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, GenesisError> {
        Self::parse(text, "<string>")
    }

    /// Reads, parses and validates a genesis file; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, GenesisError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: origin.clone(),
            source,
        })?;
        Self::parse(&text, &origin)
    }

    fn parse(text: &str, origin: &str) -> Result<Self, GenesisError> {
        let raw: RawGenesis = toml::from_str(text).map_err(|e| GenesisError::Toml {
            origin: origin.to_owned(),
            source: Box::new(e),
        })?;
        let mut accounts = Vec::with_capacity(raw.accounts.len());
        for (i, a) in raw.accounts.into_iter().enumerate() {
            let public_key = IdentityKey::from_bs58(&a.public_key).map_err(|e| {
                field_err(
                    origin,
                    format!("accounts[{i}].public_key"),
                    format!("`{}`: {e}", a.public_key),
                )
            })?;
            accounts.push(GenesisAccount {
                public_key,
                balance: a.balance,
            });
        }
        let mut validators = Vec::with_capacity(raw.validators.len());
        for (i, v) in raw.validators.into_iter().enumerate() {
            let identity_key = IdentityKey::from_bs58(&v.identity_key).map_err(|e| {
                field_err(
                    origin,
                    format!("validators[{i}].identity_key"),
                    format!("`{}`: {e}", v.identity_key),
                )
            })?;
            validators.push(GenesisValidator {
                identity_key,
                api_url: v.api_url,
                p2p_address: v.p2p_address,
                voting_power: v.voting_power,
            });
        }
        let genesis = Genesis {
            chain_id: raw.chain_id,
            genesis_time_unix_ms: raw.genesis_time_unix_ms,
            epoch_length_ms: raw.epoch_length_ms,
            threshold: raw.threshold,
            minimum_bond: raw.minimum_bond,
            active_set: raw.active_set,
            accounts,
            validators,
            dkg: raw.dkg,
            key_rotation: match raw.key_rotation {
                Some(rotation) => Some(
                    KeyRotationParams::resolve(rotation, raw.epoch_length_ms)
                        .map_err(|(field, reason)| field_err(origin, field, reason))?,
                ),
                None => None,
            },
        };
        genesis.validate_as(origin)?;
        Ok(genesis)
    }

    /// Checks the semantic rules listed on each field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.validate_as("<in-memory>")
    }

    fn validate_as(&self, origin: &str) -> Result<(), GenesisError> {
        self.validate_parameters(origin)?;
        self.validate_accounts(origin)?;
        self.validate_validators(origin)
    }

    /// The chain id, epoch length, minimum bond and active-set sizes.
    fn validate_parameters(&self, origin: &str) -> Result<(), GenesisError> {
        let id = &self.chain_id;
        if id.is_empty() || id.len() > MAX_CHAIN_ID_LEN {
            return Err(field_err(
                origin,
                "chain_id",
                format!(
                    "must be 1 to {MAX_CHAIN_ID_LEN} characters, got {}",
                    id.len()
                ),
            ));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(field_err(
                origin,
                "chain_id",
                format!("`{id}` may only contain ASCII letters, digits, '.', '_' and '-'"),
            ));
        }
        if self.epoch_length_ms == 0 {
            return Err(field_err(origin, "epoch_length_ms", "must be nonzero"));
        }
        if self.minimum_bond == 0 {
            return Err(field_err(
                origin,
                "minimum_bond",
                "must be at least 1 (stakes are selection weights; a zero weight is never drawn)",
            ));
        }
        if self.active_set.mixnodes < 3 {
            return Err(field_err(
                origin,
                "active_set.mixnodes",
                format!(
                    "must be at least 3 (one per mix layer), got {}",
                    self.active_set.mixnodes
                ),
            ));
        }
        if self.active_set.gateways < 1 {
            return Err(field_err(
                origin,
                "active_set.gateways",
                "must be at least 1",
            ));
        }
        if self.dkg.phase_blocks == 0 {
            return Err(field_err(origin, "dkg.phase_blocks", "must be at least 1"));
        }
        if let Some(rotation) = &self.key_rotation {
            rotation
                .validate(self.epoch_length_ms)
                .map_err(|(field, reason)| field_err(origin, field, reason))?;
        }

        Ok(())
    }

    /// Accounts are distinct and their balances add up without overflow.
    fn validate_accounts(&self, origin: &str) -> Result<(), GenesisError> {
        let mut seen = BTreeSet::new();
        let mut total: Amount = 0;
        for (i, a) in self.accounts.iter().enumerate() {
            if !seen.insert(a.public_key) {
                return Err(field_err(
                    origin,
                    format!("accounts[{i}].public_key"),
                    format!("duplicate account {}", a.public_key),
                ));
            }
            total = total.checked_add(a.balance).ok_or_else(|| {
                field_err(
                    origin,
                    format!("accounts[{i}].balance"),
                    "total of all balances overflows a u64",
                )
            })?;
        }

        Ok(())
    }

    /// At least one validator, each distinct with a usable API URL, and a threshold among
    /// them.
    fn validate_validators(&self, origin: &str) -> Result<(), GenesisError> {
        if self.validators.is_empty() {
            return Err(field_err(
                origin,
                "validators",
                "at least one validator is required",
            ));
        }
        let mut seen = BTreeSet::new();
        let mut p2p = BTreeSet::new();
        let mut total_power: u64 = 0;
        for (i, v) in self.validators.iter().enumerate() {
            if !p2p.insert(v.p2p_address) {
                return Err(field_err(
                    origin,
                    format!("validators[{i}].p2p_address"),
                    format!("{} is already another validator's address", v.p2p_address),
                ));
            }
            if v.p2p_address.port() == 0 || v.p2p_address.ip().is_unspecified() {
                return Err(field_err(
                    origin,
                    format!("validators[{i}].p2p_address"),
                    format!(
                        "{} is not an address peers can dial (needs a concrete IP and a nonzero port)",
                        v.p2p_address
                    ),
                ));
            }
            if v.voting_power == 0 {
                return Err(field_err(
                    origin,
                    format!("validators[{i}].voting_power"),
                    "must be at least 1",
                ));
            }
            total_power = total_power.checked_add(v.voting_power).ok_or_else(|| {
                field_err(
                    origin,
                    format!("validators[{i}].voting_power"),
                    "total voting power overflows a u64",
                )
            })?;
            if !seen.insert(v.identity_key) {
                return Err(field_err(
                    origin,
                    format!("validators[{i}].identity_key"),
                    format!("duplicate validator {}", v.identity_key),
                ));
            }
            check_api_url(&v.api_url)
                .map_err(|reason| field_err(origin, format!("validators[{i}].api_url"), reason))?;
        }
        let n = self.validators.len();
        if self.threshold == 0 || usize::try_from(self.threshold).map_or(true, |t| t > n) {
            return Err(field_err(
                origin,
                "threshold",
                format!(
                    "must be between 1 and {n} (the number of validators), got {}",
                    self.threshold
                ),
            ));
        }
        Ok(())
    }

    /// Identifies the chain: SHA-256 of [`GENESIS_HASH_DOMAIN`] followed by the canonical JSON
    /// of the genesis.
    ///
    /// The JSON is canonical because it is produced by serde_json from a fixed Rust shape, not
    /// from the file text: fields appear in declaration order, there are no maps and no floats,
    /// integers print in their unique decimal form, keys are their base58 form, strings use
    /// serde_json's fixed escaping, there is no whitespace, and accounts and validators are
    /// sorted by key bytes. Comments, spacing, key order and entry order in the TOML file
    /// therefore do not change the hash; any change of value does.
    pub fn genesis_hash(&self) -> GenesisHash {
        let mut accounts: Vec<&GenesisAccount> = self.accounts.iter().collect();
        accounts.sort_by_key(|a| a.public_key);
        let mut validators: Vec<&GenesisValidator> = self.validators.iter().collect();
        validators.sort_by_key(|v| v.identity_key);
        let view = CanonicalGenesis {
            chain_id: &self.chain_id,
            genesis_time_unix_ms: self.genesis_time_unix_ms,
            epoch_length_ms: self.epoch_length_ms,
            threshold: self.threshold,
            minimum_bond: self.minimum_bond,
            active_set: self.active_set,
            accounts,
            validators,
            dkg: self.dkg,
            key_rotation: self.key_rotation,
        };
        let json = serde_json::to_vec(&view).expect(
            "the canonical genesis view holds only structs, strings and integers, \
             which serde_json always encodes",
        );
        GenesisHash(sha256(&[GENESIS_HASH_DOMAIN, &json]))
    }

    /// The validators' keys, in file order.
    pub fn validator_keys(&self) -> Vec<VerifyingKey> {
        self.validators
            .iter()
            .map(|v| v.identity_key.verifying_key())
            .collect()
    }

    /// The Sphinx key rotation schedule, if the chain rotates keys.
    pub fn rotation_schedule(&self) -> Option<RotationSchedule> {
        self.key_rotation.map(|params| {
            RotationSchedule::new(self.genesis_time_unix_ms, self.epoch_length_ms, params)
        })
    }

    /// [`Genesis::threshold`] as a `usize`.
    pub fn threshold(&self) -> usize {
        usize::try_from(self.threshold).unwrap_or(usize::MAX)
    }

    /// The genesis as TOML text (what [`Genesis::from_toml_str`] reads back).
    pub fn to_toml_string(&self) -> Result<String, GenesisError> {
        toml::to_string(self).map_err(|e| GenesisError::Encode(e.to_string()))
    }
}

fn check_api_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_API_URL_LEN {
        return Err(format!("longer than {MAX_API_URL_LEN} bytes"));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{url}` has no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{url}` contains whitespace or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
