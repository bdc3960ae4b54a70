//! Active-set selection: which bonded nodes serve in an epoch, and in which mix layer.
//!
//! Every validator runs this at each epoch boundary on the same ledger state and gets the same
//! result; nothing here uses floating point or ambient randomness.
//!
//! # Seed and random stream
//!
//! ```text
//! seed        = SHA-256("mixnet-validator-selection-v1" || genesis_hash || epoch:u64
//!                       || previous_topology_hash)          (TopologyHash::NONE if none)
//! role_seed   = SHA-256(seed || "mixnodes")   or   SHA-256(seed || "gateways")
//! word_i      = first 16 bytes of SHA-256(role_seed || i:u64), as a big-endian u128, i = 0, 1, ...
//! ```
//!
//! Mixnodes and gateways draw from separate streams, so one role's candidates never influence
//! the other's selection.
//!
//! # Weighted sampling without replacement (exact, integer only)
//!
//! Eligible candidates are the nodes of the role whose stake is at least `minimum_bond` (and
//! nonzero), sorted by identity key bytes. Then, up to K (or G) times: let `T` be the total
//! stake of the remaining candidates; draw `r` uniform in `[0, T)` from the stream by rejection
//! (discard words below `2^128 mod T`, then `r = word mod T`: no modulo bias); pick the first
//! remaining candidate whose cumulative stake exceeds `r`; remove it. A node's chance at each
//! draw is exactly its share of the remaining stake.
//!
//! # Layers
//!
//! Selected mixnodes are sorted by stake descending (ties by identity key bytes) and each is
//! put in the layer whose total stake is lowest so far (ties to the lower layer number). With
//! at least three mixnodes, every layer gets one (the first three go to layers 1, 2, 3, since
//! all stakes are nonzero), and the layers' stakes differ by at most the largest single stake.
//!
//! # Limitation
//!
//! The seed is known one epoch ahead, so a party bonding during the epoch can compute how its
//! new node would fare (and grind identity keys for a favourable position). Binding the seed
//! to something unknown until the boundary (e.g. the ledger state hash after the batch, or a
//! threshold signature of the validators) would remove that; it is a protocol decision above
//! this module.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::genesis::{Amount, Genesis, GenesisHash};
use crate::ledger::BondRecord;
use crate::primitives::{hash32_type, sha256, IdentityKey};
use crate::statement::{NodeDescriptor, NodeRole};
use crate::topology::{EpochId, Layer, TopologyHash};

/// Domain-separation prefix of the selection seed.
pub const SELECTION_SEED_DOMAIN: &[u8] = b"mixnet-validator-selection-v1";

hash32_type!(
    /// The seed of one epoch's selection.
    SelectionSeed
);

/// Why selection could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// Two candidates share an identity key (the ledger never produces this).
    #[error("candidate {0} appears more than once")]
    DuplicateCandidate(IdentityKey),
}

/// Inputs of one epoch's selection besides the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionParams {
    /// The chain.
    pub genesis_hash: GenesisHash,
    /// The epoch being selected for.
    pub epoch: EpochId,
    /// Hash of the previous epoch's topology, or [`TopologyHash::NONE`].
    pub previous_topology_hash: TopologyHash,
    /// K: mixnodes to select.
    pub mixnodes: usize,
    /// G: gateways to select.
    pub gateways: usize,
    /// Least stake of an eligible node.
    pub minimum_bond: Amount,
}

impl SelectionParams {
    /// Parameters from the genesis for `epoch`.
    pub fn from_genesis(
        genesis: &Genesis,
        epoch: EpochId,
        previous_topology_hash: TopologyHash,
    ) -> Self {
        Self {
            genesis_hash: genesis.genesis_hash(),
            epoch,
            previous_topology_hash,
            mixnodes: usize::try_from(genesis.active_set.mixnodes).unwrap_or(usize::MAX),
            gateways: usize::try_from(genesis.active_set.gateways).unwrap_or(usize::MAX),
            minimum_bond: genesis.minimum_bond,
        }
    }

    /// The epoch's seed (see the module docs).
    pub fn seed(&self) -> SelectionSeed {
        SelectionSeed(sha256(&[
            SELECTION_SEED_DOMAIN,
            self.genesis_hash.as_bytes(),
            &self.epoch.0.to_be_bytes(),
            self.previous_topology_hash.as_bytes(),
        ]))
    }
}

/// A selected mixnode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedMixnode {
    /// The node.
    pub node: NodeDescriptor,
    /// Its stake.
    pub stake: Amount,
    /// Its layer.
    pub layer: Layer,
}

/// A selected gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedGateway {
    /// The node.
    pub node: NodeDescriptor,
    /// Its stake.
    pub stake: Amount,
}

/// The outcome of one epoch's selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveSet {
    /// The epoch.
    pub epoch: EpochId,
    /// The seed used.
    pub seed: SelectionSeed,
    /// Selected mixnodes, sorted by (layer, identity key).
    pub mixnodes: Vec<SelectedMixnode>,
    /// Selected gateways, sorted by identity key.
    pub gateways: Vec<SelectedGateway>,
}

impl ActiveSet {
    /// Total stake per layer (index 0 is layer 1).
    pub fn layer_stakes(&self) -> [u128; 3] {
        let mut sums = [0u128; 3];
        for m in &self.mixnodes {
            let index = usize::from(m.layer.get()).checked_sub(1);
            if let Some(s) = index.and_then(|i| sums.get_mut(i)) {
                *s += u128::from(m.stake);
            }
        }
        sums
    }
}

/// The deterministic random stream of the module docs.
#[derive(Debug, Clone)]
pub(crate) struct SeedStream {
    seed: [u8; 32],
    counter: u64,
}

impl SeedStream {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0 }
    }

    pub(crate) fn next_u128(&mut self) -> u128 {
        let block = sha256(&[&self.seed, &self.counter.to_be_bytes()]);
        self.counter = self.counter.wrapping_add(1);
        let mut word = [0u8; 16];
        word.copy_from_slice(&block[..16]);
        u128::from_be_bytes(word)
    }

    /// Uniform in `[0, bound)` without modulo bias; 0 when `bound` is 0.
    pub(crate) fn below(&mut self, bound: u128) -> u128 {
        if bound == 0 {
            return 0;
        }
        // 2^128 mod bound: words at or above it span a whole number of copies of [0, bound).
        let reject_below = bound.wrapping_neg() % bound;
        loop {
            let x = self.next_u128();
            if x >= reject_below {
                return x % bound;
            }
        }
    }
}

/// Draws up to `k` distinct indices of `weights`, each draw with probability proportional to
/// the remaining weights (all weights must be nonzero).
pub(crate) fn weighted_sample(stream: &mut SeedStream, weights: &[Amount], k: usize) -> Vec<usize> {
    let mut remaining: Vec<(usize, Amount)> = weights.iter().copied().enumerate().collect();
    let mut total: u128 = remaining.iter().map(|(_, w)| u128::from(*w)).sum();
    let mut picked = Vec::with_capacity(k.min(remaining.len()));
    while picked.len() < k && !remaining.is_empty() && total > 0 {
        let r = stream.below(total);
        let mut cumulative: u128 = 0;
        let mut chosen = None;
        for (pos, (_, w)) in remaining.iter().enumerate() {
            cumulative += u128::from(*w);
            if r < cumulative {
                chosen = Some(pos);
                break;
            }
        }
        // r < total = the last cumulative sum, so a position is always found.
        let Some(pos) = chosen else { break };
        let (index, w) = remaining.remove(pos);
        total -= u128::from(w);
        picked.push(index);
    }
    picked
}

/// Sorted eligible candidates of one role.
fn eligible<'a>(
    candidates: &[&'a BondRecord],
    role: NodeRole,
    minimum_bond: Amount,
) -> Vec<&'a BondRecord> {
    candidates
        .iter()
        .copied()
        .filter(|b| b.node.role == role && b.stake >= minimum_bond && b.stake > 0)
        .collect()
}

fn role_stream(seed: &SelectionSeed, tag: &[u8]) -> SeedStream {
    SeedStream::new(sha256(&[seed.as_bytes(), tag]))
}

fn sample<'a>(stream: &mut SeedStream, pool: &[&'a BondRecord], k: usize) -> Vec<&'a BondRecord> {
    let weights: Vec<Amount> = pool.iter().map(|b| b.stake).collect();
    weighted_sample(stream, &weights, k)
        .into_iter()
        .filter_map(|i| pool.get(i).copied())
        .collect()
}

/// Assigns layers as described in the module docs.
pub(crate) fn assign_layers(selected: &[&BondRecord]) -> Vec<SelectedMixnode> {
    let mut order: Vec<&BondRecord> = selected.to_vec();
    order.sort_by(|a, b| {
        b.stake
            .cmp(&a.stake)
            .then_with(|| a.node.identity_key.cmp(&b.node.identity_key))
    });
    let mut sums = [
        (0u128, Layer::ALL[0]),
        (0, Layer::ALL[1]),
        (0, Layer::ALL[2]),
    ];
    let mut out = Vec::with_capacity(order.len());
    for b in order {
        // The minimum of (stake sum, layer) picks the lightest layer, ties to the lowest number.
        let Some(slot) = sums.iter_mut().min_by_key(|(sum, layer)| (*sum, *layer)) else {
            break;
        };
        slot.0 += u128::from(b.stake);
        out.push(SelectedMixnode {
            node: b.node.clone(),
            stake: b.stake,
            layer: slot.1,
        });
    }
    out.sort_by_key(|m| (m.layer, m.node.identity_key));
    out
}

/// Selects the epoch's active set from the bonded nodes (see the module docs). The order of
/// `candidates` does not matter.
pub fn select_active_set<'a>(
    params: &SelectionParams,
    candidates: impl IntoIterator<Item = &'a BondRecord>,
) -> Result<ActiveSet, SelectionError> {
    let mut all: Vec<&BondRecord> = candidates.into_iter().collect();
    all.sort_by_key(|b| b.node.identity_key);
    let mut seen = BTreeSet::new();
    for b in &all {
        if !seen.insert(b.node.identity_key) {
            return Err(SelectionError::DuplicateCandidate(b.node.identity_key));
        }
    }
    let seed = params.seed();

    let mix_pool = eligible(&all, NodeRole::Mixnode, params.minimum_bond);
    let mixes = sample(
        &mut role_stream(&seed, b"mixnodes"),
        &mix_pool,
        params.mixnodes,
    );
    let mixnodes = assign_layers(&mixes);

    let gw_pool = eligible(&all, NodeRole::Gateway, params.minimum_bond);
    let mut gateways: Vec<SelectedGateway> = sample(
        &mut role_stream(&seed, b"gateways"),
        &gw_pool,
        params.gateways,
    )
    .into_iter()
    .map(|b| SelectedGateway {
        node: b.node.clone(),
        stake: b.stake,
    })
    .collect();
    gateways.sort_by_key(|g| g.node.identity_key);

    Ok(ActiveSet {
        epoch: params.epoch,
        seed,
        mixnodes,
        gateways,
    })
}

#[cfg(test)]
mod tests;
