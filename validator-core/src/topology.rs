//! Epoch timing, the per-epoch network topology, and validator signatures over it.
//!
//! # Epochs
//!
//! Epoch `e` is the half-open window `[genesis_time + e * len, genesis_time + (e + 1) * len)`
//! in Unix milliseconds ([`epoch_window`]); the epoch at time `t` is
//! `(t - genesis_time) / len` ([`epoch_at`]).
//!
//! # Canonical bytes
//!
//! Validators build their topology independently and must sign identical bytes, and clients
//! must check those bytes whatever order a JSON array arrived in. So the encoding sorts: mix
//! nodes by `(layer, identity key bytes)`, gateways by identity key bytes. The order of the
//! vectors in a [`Topology`] value therefore does not matter (constructors keep them sorted
//! anyway). Format (primitive rules in [`crate::primitives`]):
//!
//! ```text
//! epoch_id:u64 || height:u64 || valid_from_ms:u64 || valid_until_ms:u64
//! || 0x00 | 0x01 || rotation:u64
//! || n:u64 || n * (layer:u8 || identity_key[32] || keys || len:u64 || address)
//! || m:u64 || m * (identity_key[32] || keys || len:u64 || address
//!                  || 0x00 | 0x01 || len:u64 || clients_address)
//! keys = sphinx_key[32] || 0x00 | 0x01 || next_sphinx_key[32] || 0x00 | 0x01 || noise_key[32]
//! ```
//!
//! # Sphinx keys
//!
//! On a chain that rotates keys ([`crate::rotation`]) a topology names the rotation its
//! epoch lies in, and each node's `sphinx_key` is its key for that rotation;
//! `next_sphinx_key` is its key for the next rotation if the node had announced it when the
//! topology was built. Without rotation both are absent and `sphinx_key` is the bonded key.
//!
//! `height` is the height of the chain block whose committed state the topology was computed
//! from (0 for the genesis state, or where there is no chain), so a signature also vouches
//! for which chain state the selection used.
//!
//! A validator signs `"mixnet-validator-topology-v1" || genesis_hash || canonical bytes`; the
//! topology hash (which seeds the next epoch's selection) is
//! `SHA-256("mixnet-validator-topology-hash-v1" || canonical bytes)`.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::genesis::{Genesis, GenesisHash};
use crate::primitives::{
    hash32_type, sha256, signature_bs58, Encoder, IdentityKey, NoiseKey, SphinxKey,
};
use crate::rotation::RotationId;
use crate::selection::ActiveSet;

/// Domain-separation prefix of topology signatures.
pub const TOPOLOGY_SIGNATURE_DOMAIN: &[u8] = b"mixnet-validator-topology-v1";
/// Domain-separation prefix of the topology hash.
pub const TOPOLOGY_HASH_DOMAIN: &[u8] = b"mixnet-validator-topology-hash-v1";

hash32_type!(
    /// SHA-256 identifying a topology (see [`Topology::topology_hash`]).
    TopologyHash
);

impl TopologyHash {
    /// The "previous topology hash" used for the first selection, when there is none.
    pub const NONE: Self = Self([0; 32]);
}

/// Why a topology, its timing or its signatures were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The time is before genesis.
    #[error("time {now_ms} ms is before genesis ({genesis_time_ms} ms)")]
    BeforeGenesis {
        /// The time asked about.
        now_ms: u64,
        /// Genesis time.
        genesis_time_ms: u64,
    },
    /// The genesis has a zero epoch length.
    #[error("epoch length is zero")]
    ZeroEpochLength,
    /// The epoch's window does not fit in a u64 of milliseconds.
    #[error("epoch {0} is out of range")]
    EpochOverflow(EpochId),
    /// A layer number outside 1..=3.
    #[error("layer {0} is not 1, 2 or 3")]
    InvalidLayer(u8),
    /// `valid_from_ms >= valid_until_ms`.
    #[error("empty validity window [{from_ms}, {until_ms})")]
    EmptyWindow {
        /// Start.
        from_ms: u64,
        /// End.
        until_ms: u64,
    },
    /// A node appears twice.
    #[error("node {0} appears more than once")]
    DuplicateNode(IdentityKey),
    /// The threshold cannot be met by the validator set.
    #[error("threshold {threshold} is not between 1 and {validators} (distinct validators)")]
    InvalidThreshold {
        /// The threshold.
        threshold: usize,
        /// Distinct keys in the validator set.
        validators: usize,
    },
    /// Too few distinct known validators signed these bytes.
    #[error("{valid} valid signatures from known validators, threshold {threshold}")]
    InsufficientSignatures {
        /// Distinct known validators whose signature verified.
        valid: usize,
        /// Required.
        threshold: usize,
    },
}

/// An epoch number (0 is the epoch starting at genesis).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct EpochId(pub u64);

impl EpochId {
    /// The following epoch (saturating).
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for EpochId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A mix layer, 1, 2 or 3 (serialized as that number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Layer(u8);

impl Layer {
    /// The three layers, in path order.
    pub const ALL: [Layer; 3] = [Layer(1), Layer(2), Layer(3)];

    /// Layer `n`, if `n` is 1, 2 or 3.
    pub fn new(n: u8) -> Option<Self> {
        (1..=3).contains(&n).then_some(Self(n))
    }

    /// The layer number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Layer {
    type Error = TopologyError;
    fn try_from(n: u8) -> Result<Self, TopologyError> {
        Self::new(n).ok_or(TopologyError::InvalidLayer(n))
    }
}

impl From<Layer> for u8 {
    fn from(l: Layer) -> u8 {
        l.0
    }
}

/// The epoch containing `now_ms`.
pub fn epoch_at(genesis: &Genesis, now_ms: u64) -> Result<EpochId, TopologyError> {
    if genesis.epoch_length_ms == 0 {
        return Err(TopologyError::ZeroEpochLength);
    }
    let since =
        now_ms
            .checked_sub(genesis.genesis_time_unix_ms)
            .ok_or(TopologyError::BeforeGenesis {
                now_ms,
                genesis_time_ms: genesis.genesis_time_unix_ms,
            })?;
    Ok(EpochId(since / genesis.epoch_length_ms))
}

/// Epoch `epoch`'s window `[from_ms, until_ms)`.
pub fn epoch_window(genesis: &Genesis, epoch: EpochId) -> Result<(u64, u64), TopologyError> {
    if genesis.epoch_length_ms == 0 {
        return Err(TopologyError::ZeroEpochLength);
    }
    let from = epoch
        .0
        .checked_mul(genesis.epoch_length_ms)
        .and_then(|offset| offset.checked_add(genesis.genesis_time_unix_ms))
        .ok_or(TopologyError::EpochOverflow(epoch))?;
    let until = from
        .checked_add(genesis.epoch_length_ms)
        .ok_or(TopologyError::EpochOverflow(epoch))?;
    Ok((from, until))
}

/// A mixnode in the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyMixnode {
    /// ed25519 identity key.
    pub identity_key: IdentityKey,
    /// x25519 Sphinx key (of the topology's rotation, if keys rotate).
    pub sphinx_key: SphinxKey,
    /// Its key for the next rotation, once announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sphinx_key: Option<SphinxKey>,
    /// Its static key for Noise links, if it announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_key: Option<NoiseKey>,
    /// Packet address.
    pub address: SocketAddr,
    /// Its layer.
    pub layer: Layer,
}

/// A gateway in the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyGateway {
    /// ed25519 identity key.
    pub identity_key: IdentityKey,
    /// x25519 Sphinx key (of the topology's rotation, if keys rotate).
    pub sphinx_key: SphinxKey,
    /// Its key for the next rotation, once announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sphinx_key: Option<SphinxKey>,
    /// Its static key for Noise links, if it announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_key: Option<NoiseKey>,
    /// Packet address.
    pub address: SocketAddr,
    /// Client websocket URL, if it announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients_address: Option<String>,
}

/// The active network for one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The epoch.
    pub epoch_id: EpochId,
    /// The height of the chain block whose committed state this topology was computed from
    /// (0: the genesis state).
    pub height: u64,
    /// Start of validity, Unix ms (inclusive).
    pub valid_from_ms: u64,
    /// End of validity, Unix ms (exclusive).
    pub valid_until_ms: u64,
    /// The Sphinx key rotation the epoch lies in, if keys rotate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationId>,
    /// Active mixnodes.
    pub mixnodes: Vec<TopologyMixnode>,
    /// Active gateways.
    pub gateways: Vec<TopologyGateway>,
}

fn encode_keys(
    enc: &mut Encoder,
    key: &SphinxKey,
    next: Option<&SphinxKey>,
    noise: Option<&NoiseKey>,
) {
    enc.fixed(key.as_bytes());
    match next {
        Some(next) => enc.u8(1).fixed(next.as_bytes()),
        None => enc.u8(0),
    };
    match noise {
        Some(noise) => enc.u8(1).fixed(noise.as_bytes()),
        None => enc.u8(0),
    };
}

fn mix_order(a: &TopologyMixnode, b: &TopologyMixnode) -> std::cmp::Ordering {
    (a.layer, a.identity_key).cmp(&(b.layer, b.identity_key))
}

fn gateway_order(a: &TopologyGateway, b: &TopologyGateway) -> std::cmp::Ordering {
    a.identity_key.cmp(&b.identity_key)
}

impl Topology {
    /// The topology of `active.epoch`, valid for that epoch's window, listing the selected
    /// nodes in canonical order; `height` is the block height of the state `active` was
    /// selected from.
    pub fn from_selection(
        genesis: &Genesis,
        active: &ActiveSet,
        height: u64,
    ) -> Result<Self, TopologyError> {
        let (valid_from_ms, valid_until_ms) = epoch_window(genesis, active.epoch)?;
        let mut mixnodes: Vec<TopologyMixnode> = active
            .mixnodes
            .iter()
            .map(|m| TopologyMixnode {
                identity_key: m.node.identity_key,
                sphinx_key: m.node.sphinx_key,
                next_sphinx_key: None,
                noise_key: m.node.noise_key,
                address: m.node.address,
                layer: m.layer,
            })
            .collect();
        mixnodes.sort_by(mix_order);
        let mut gateways: Vec<TopologyGateway> = active
            .gateways
            .iter()
            .map(|g| TopologyGateway {
                identity_key: g.node.identity_key,
                sphinx_key: g.node.sphinx_key,
                next_sphinx_key: None,
                noise_key: g.node.noise_key,
                address: g.node.address,
                clients_address: g.node.clients_address.clone(),
            })
            .collect();
        gateways.sort_by(gateway_order);
        let topology = Self {
            epoch_id: active.epoch,
            height,
            valid_from_ms,
            valid_until_ms,
            rotation: None,
            mixnodes,
            gateways,
        };
        topology.validate()?;
        Ok(topology)
    }

    /// This topology for `rotation`, each node's next key looked up with `next_key` (its
    /// identity key in, its key for the next rotation out, if announced).
    pub fn with_rotation(
        mut self,
        rotation: RotationId,
        next_key: impl Fn(&IdentityKey) -> Option<SphinxKey>,
    ) -> Self {
        self.rotation = Some(rotation);
        for m in &mut self.mixnodes {
            m.next_sphinx_key = next_key(&m.identity_key);
        }
        for g in &mut self.gateways {
            g.next_sphinx_key = next_key(&g.identity_key);
        }
        self
    }

    /// Structural checks: a nonempty window and no node listed twice.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.valid_from_ms >= self.valid_until_ms {
            return Err(TopologyError::EmptyWindow {
                from_ms: self.valid_from_ms,
                until_ms: self.valid_until_ms,
            });
        }
        let mut seen = BTreeSet::new();
        let ids = self
            .mixnodes
            .iter()
            .map(|m| m.identity_key)
            .chain(self.gateways.iter().map(|g| g.identity_key));
        for id in ids {
            if !seen.insert(id) {
                return Err(TopologyError::DuplicateNode(id));
            }
        }
        Ok(())
    }

    /// Whether clients can route through it: a node in every layer and at least one gateway.
    pub fn is_routable(&self) -> bool {
        Layer::ALL
            .iter()
            .all(|l| self.mixnodes.iter().any(|m| m.layer == *l))
            && !self.gateways.is_empty()
    }

    /// Whether `now_ms` falls in the validity window.
    pub fn is_valid_at(&self, now_ms: u64) -> bool {
        (self.valid_from_ms..self.valid_until_ms).contains(&now_ms)
    }

    /// The mixnodes of one layer, in canonical order.
    pub fn layer(&self, layer: Layer) -> impl Iterator<Item = &TopologyMixnode> + '_ {
        self.mixnodes.iter().filter(move |m| m.layer == layer)
    }

    /// The canonical encoding (see the module docs).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut mixnodes: Vec<&TopologyMixnode> = self.mixnodes.iter().collect();
        mixnodes.sort_by(|a, b| mix_order(a, b));
        let mut gateways: Vec<&TopologyGateway> = self.gateways.iter().collect();
        gateways.sort_by(|a, b| gateway_order(a, b));

        let mut enc = Encoder::new(b"");
        enc.u64(self.epoch_id.0)
            .u64(self.height)
            .u64(self.valid_from_ms)
            .u64(self.valid_until_ms);
        match self.rotation {
            Some(rotation) => enc.u8(1).u64(rotation.0),
            None => enc.u8(0),
        };
        enc.count(mixnodes.len());
        for m in mixnodes {
            enc.u8(m.layer.get()).fixed(m.identity_key.as_bytes());
            encode_keys(
                &mut enc,
                &m.sphinx_key,
                m.next_sphinx_key.as_ref(),
                m.noise_key.as_ref(),
            );
            enc.str(&m.address.to_string());
        }
        enc.count(gateways.len());
        for g in gateways {
            enc.fixed(g.identity_key.as_bytes());
            encode_keys(
                &mut enc,
                &g.sphinx_key,
                g.next_sphinx_key.as_ref(),
                g.noise_key.as_ref(),
            );
            enc.str(&g.address.to_string())
                .opt_str(g.clients_address.as_deref());
        }
        enc.finish()
    }

    /// SHA-256 of the domain prefix and the canonical bytes.
    pub fn topology_hash(&self) -> TopologyHash {
        TopologyHash(sha256(&[TOPOLOGY_HASH_DOMAIN, &self.canonical_bytes()]))
    }

    /// The bytes validators sign: domain prefix, genesis hash, canonical bytes.
    pub fn signing_bytes(&self, genesis_hash: &GenesisHash) -> Vec<u8> {
        let mut enc = Encoder::new(TOPOLOGY_SIGNATURE_DOMAIN);
        enc.fixed(genesis_hash.as_bytes())
            .fixed(&self.canonical_bytes());
        enc.finish()
    }

    /// A validator's signature over the topology.
    pub fn sign(
        &self,
        genesis_hash: &GenesisHash,
        validator_key: &SigningKey,
    ) -> TopologySignature {
        TopologySignature {
            validator: IdentityKey::from(validator_key),
            signature: validator_key.sign(&self.signing_bytes(genesis_hash)),
        }
    }
}

/// One validator's signature over a topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySignature {
    /// The signing validator's identity key.
    pub validator: IdentityKey,
    /// ed25519 signature over [`Topology::signing_bytes`], base58.
    #[serde(with = "signature_bs58")]
    pub signature: Signature,
}

/// A topology with the validator signatures collected for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTopology {
    /// The topology.
    pub topology: Topology,
    /// Signatures, in any order.
    pub signatures: Vec<TopologySignature>,
}

/// Accepts a signed topology only when at least `threshold` *distinct* validators from
/// `validator_set` signed its signing bytes for this chain.
///
/// Signatures by keys outside the set are ignored; a validator counts once however many of
/// its signatures appear; a signature that does not verify (including one over different
/// bytes, another chain or another topology) does not count. Verification stops as soon as
/// the threshold is reached, and never verifies a second signature from an already counted
/// validator. The topology must also pass [`Topology::validate`].
pub fn verify_signed_topology<'a>(
    signed: &'a SignedTopology,
    genesis_hash: &GenesisHash,
    validator_set: &[VerifyingKey],
    threshold: usize,
) -> Result<&'a Topology, TopologyError> {
    let known: BTreeSet<[u8; 32]> = validator_set.iter().map(|k| k.to_bytes()).collect();
    if threshold == 0 || threshold > known.len() {
        return Err(TopologyError::InvalidThreshold {
            threshold,
            validators: known.len(),
        });
    }
    signed.topology.validate()?;
    let message = signed.topology.signing_bytes(genesis_hash);
    let mut counted: BTreeSet<[u8; 32]> = BTreeSet::new();
    for sig in &signed.signatures {
        let key = *sig.validator.as_bytes();
        if !known.contains(&key) || counted.contains(&key) {
            continue;
        }
        if sig.validator.verify(&message, &sig.signature) {
            counted.insert(key);
            if counted.len() >= threshold {
                return Ok(&signed.topology);
            }
        }
    }
    Err(TopologyError::InsufficientSignatures {
        valid: counted.len(),
        threshold,
    })
}

/// [`verify_signed_topology`] with the genesis's chain, validator set and threshold.
pub fn verify_signed_topology_for<'a>(
    signed: &'a SignedTopology,
    genesis: &Genesis,
) -> Result<&'a Topology, TopologyError> {
    verify_signed_topology(
        signed,
        &genesis.genesis_hash(),
        &genesis.validator_keys(),
        genesis.threshold(),
    )
}

#[cfg(test)]
mod tests;
