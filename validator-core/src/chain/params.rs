//! What a chain fixes at genesis, computed once.

use std::collections::BTreeSet;

use crate::chain::epochs::EpochSchedule;
use crate::genesis::{Genesis, GenesisHash};
use crate::primitives::IdentityKey;
use crate::rotation::RotationSchedule;
use crate::selection::SelectionParams;
use crate::topology::{EpochId, TopologyHash};

/// The genesis with what is derived from it once: its hash, the epoch schedule and the
/// validator set. Shared behind an `Arc` by every [`ChainState`](crate::chain::ChainState)
/// of the chain, so the threads that verify transactions outside the state's lock can hold
/// it too ([`ChainState::params`](crate::chain::ChainState::params)).
#[derive(Debug)]
pub struct ChainParams {
    genesis: Genesis,
    genesis_hash: GenesisHash,
    schedule: EpochSchedule,
    rotation: Option<RotationSchedule>,
    validators: BTreeSet<IdentityKey>,
}

impl ChainParams {
    /// The parameters of `genesis`'s chain.
    pub fn new(genesis: &Genesis) -> Self {
        Self {
            genesis: genesis.clone(),
            genesis_hash: genesis.genesis_hash(),
            schedule: EpochSchedule::from_genesis(genesis),
            rotation: genesis.rotation_schedule(),
            validators: genesis.validators.iter().map(|v| v.identity_key).collect(),
        }
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id every statement and topology signature is bound to.
    pub fn genesis_hash(&self) -> GenesisHash {
        self.genesis_hash
    }

    /// Epoch timing and cutoffs.
    pub fn schedule(&self) -> &EpochSchedule {
        &self.schedule
    }

    /// Sphinx key rotation timing, if the chain rotates keys.
    pub fn rotation(&self) -> Option<&RotationSchedule> {
        self.rotation.as_ref()
    }

    /// Whether `key` is one of the genesis validators.
    pub fn is_validator(&self, key: &IdentityKey) -> bool {
        self.validators.contains(key)
    }

    /// The selection inputs of `epoch` with the seed chain at `previous_topology_hash`
    /// ([`SelectionParams::from_genesis`] without rehashing the genesis).
    pub fn selection(
        &self,
        epoch: EpochId,
        previous_topology_hash: TopologyHash,
    ) -> SelectionParams {
        let g = &self.genesis;
        SelectionParams {
            genesis_hash: self.genesis_hash,
            epoch,
            previous_topology_hash,
            mixnodes: usize::try_from(g.active_set.mixnodes).unwrap_or(usize::MAX),
            gateways: usize::try_from(g.active_set.gateways).unwrap_or(usize::MAX),
            minimum_bond: g.minimum_bond,
        }
    }

    /// The genesis validators, by key.
    pub fn validators(&self) -> impl Iterator<Item = &IdentityKey> + '_ {
        self.validators.iter()
    }
}
