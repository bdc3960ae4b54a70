//! A committed [`ChainState`] as bytes, so a validator restarts from its latest snapshot and
//! replays only the blocks after it instead of the whole chain.
//!
//! A snapshot holds everything the state holds except the chain's parameters, which come
//! from the genesis again; topology hashes are recomputed from the topologies. Restoring
//! checks the genesis hash; the caller checks the restored [`ChainState::state_hash`]
//! against the hash it recorded with the block, so a corrupt or foreign snapshot is refused
//! rather than trusted.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::chain::block::BlockId;
use crate::chain::dkg::{KeyEpoch, KeyEpochs};
use crate::chain::error::ChainError;
use crate::chain::params::ChainParams;
use crate::chain::sphinx_keys::{SphinxKeyEntry, SphinxKeys};
use crate::chain::state::{ChainState, SpendRecord, TopologyRecord};
use crate::coconut::verification::ZETA_BYTES;
use crate::credential::zeta_to_bs58;
use crate::genesis::GenesisHash;
use crate::ledger::{AccountState, BondRecord, DepositRecord, Ledger};
use crate::primitives::IdentityKey;
use crate::statement::CredentialRequestDigest;
use crate::topology::{EpochId, Topology, TopologyHash, TopologySignature};

/// A spent tag with its record (tags are base58 text: JSON maps need string keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SpentEntry {
    zeta: String,
    #[serde(flatten)]
    record: SpendRecord,
}

/// A topology record without its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TopologyEntry {
    topology: Topology,
    height: u64,
    signatures: Vec<TopologySignature>,
}

/// The serialised form of a [`ChainState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSnapshot {
    genesis_hash: GenesisHash,
    height: u64,
    last_block: BlockId,
    last_time_ms: u64,
    accounts: Vec<(IdentityKey, AccountState)>,
    bonds: Vec<BondRecord>,
    deposits: Vec<(CredentialRequestDigest, DepositRecord)>,
    spent: Vec<SpentEntry>,
    topologies: Vec<TopologyEntry>,
    chain_hash: TopologyHash,
    next_to_close: EpochId,
    key_epochs: Vec<KeyEpoch>,
    #[serde(default)]
    sphinx_keys: Vec<SphinxKeyEntry>,
}

impl StateSnapshot {
    /// The height of the state.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect(
            "a snapshot holds only structs, sequences, strings and integers, which serde_json \
             always encodes",
        )
    }

    /// Parses [`StateSnapshot::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ChainError> {
        serde_json::from_slice(bytes).map_err(|e| ChainError::Decode(format!("snapshot: {e}")))
    }
}

impl ChainState {
    /// This state as a snapshot.
    pub fn snapshot(&self) -> StateSnapshot {
        let (genesis_hash, accounts, bonds, deposits) = self.ledger().parts();
        StateSnapshot {
            genesis_hash,
            height: self.height(),
            last_block: self.last_block(),
            last_time_ms: self.last_time_ms(),
            accounts: accounts.iter().map(|(k, a)| (*k, *a)).collect(),
            bonds: bonds.values().cloned().collect(),
            deposits: deposits.iter().map(|(d, r)| (*d, r.clone())).collect(),
            spent: self
                .spent_entries()
                .map(|(zeta, record)| SpentEntry {
                    zeta: zeta_to_bs58(zeta),
                    record: record.clone(),
                })
                .collect(),
            topologies: self
                .topology_records()
                .map(|r| TopologyEntry {
                    topology: r.topology.clone(),
                    height: r.height,
                    signatures: r.signatures.values().cloned().collect(),
                })
                .collect(),
            chain_hash: self.chain_hash(),
            next_to_close: self.next_to_close(),
            key_epochs: self.key_epochs().runs().cloned().collect(),
            sphinx_keys: self.sphinx_keys().entries().collect(),
        }
    }

    /// The state a snapshot holds, on the chain of `params`.
    pub fn from_snapshot(
        params: Arc<ChainParams>,
        snapshot: StateSnapshot,
    ) -> Result<ChainState, ChainError> {
        if snapshot.genesis_hash != params.genesis_hash() {
            return Err(ChainError::WrongChain {
                expected: params.genesis_hash(),
                got: snapshot.genesis_hash,
            });
        }
        let bad = |what: String| ChainError::Decode(format!("snapshot: {what}"));
        let ledger = Ledger::from_parts(
            snapshot.genesis_hash,
            snapshot.accounts.into_iter().collect(),
            snapshot
                .bonds
                .into_iter()
                .map(|b| (b.node.identity_key, b))
                .collect(),
            snapshot.deposits.into_iter().collect(),
        );
        let mut spent = BTreeMap::new();
        for entry in snapshot.spent {
            let mut zeta = [0u8; ZETA_BYTES];
            match bs58::decode(&entry.zeta).onto(&mut zeta[..]) {
                Ok(ZETA_BYTES) => {}
                _ => return Err(bad(format!("spent tag `{}`", entry.zeta))),
            }
            spent.insert(zeta, entry.record);
        }
        let topologies = snapshot
            .topologies
            .into_iter()
            .map(|t| {
                let record = TopologyRecord {
                    hash: t.topology.topology_hash(),
                    height: t.height,
                    signatures: t.signatures.into_iter().map(|s| (s.validator, s)).collect(),
                    topology: t.topology,
                };
                (record.topology.epoch_id, record)
            })
            .collect();
        Ok(ChainState::from_snapshot_parts(
            params,
            snapshot.height,
            snapshot.last_block,
            snapshot.last_time_ms,
            ledger,
            spent,
            topologies,
            snapshot.chain_hash,
            snapshot.next_to_close,
            KeyEpochs::from_runs(snapshot.key_epochs),
            SphinxKeys::from_entries(snapshot.sphinx_keys),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Transaction;
    use crate::statement::{NodeRole, SignedStatement, Statement};
    use crate::test_util::{
        account_key, fake_spend, genesis, identity, next_block, node, node_key, FakeSpends,
    };

    /// A state after bonds, a deposit, two spends and an epoch's topology with a vote.
    fn busy_state() -> ChainState {
        let g = genesis(2, 1_000_000, 3, 2);
        let h = g.genesis_hash();
        let mut state = ChainState::genesis(&g).unwrap();
        let account = account_key(0);
        let mut txs = Vec::new();
        for i in 0..4u32 {
            let role = if i < 3 {
                NodeRole::Mixnode
            } else {
                NodeRole::Gateway
            };
            let st = Statement::bond(
                h,
                identity(&account),
                u64::from(i),
                node(i, role),
                500,
                &node_key(i),
            )
            .unwrap();
            txs.push(Transaction::Statement(
                SignedStatement::sign(st, &account).unwrap(),
            ));
        }
        txs.push(Transaction::Spend(Box::new(fake_spend(1, 1, 1))));
        txs.push(Transaction::Spend(Box::new(fake_spend(2, 2, 2))));
        let time = g.genesis_time_unix_ms + 1;
        state = state
            .validate_block(&next_block(&state, time, txs), &FakeSpends)
            .unwrap();
        // A block past epoch 0's cutoff builds epoch 1's topology.
        let cutoff = state.params().schedule().cutoff(EpochId(0));
        state = state
            .validate_block(&next_block(&state, cutoff, Vec::new()), &FakeSpends)
            .unwrap();
        assert!(state.topology_record(EpochId(1)).is_some());
        state
    }

    #[test]
    fn a_restored_snapshot_is_the_same_state_and_goes_on_the_same_way() {
        let state = busy_state();
        let bytes = state.snapshot().encode();
        let restored = ChainState::from_snapshot(
            Arc::clone(state.params()),
            StateSnapshot::decode(&bytes).unwrap(),
        )
        .unwrap();
        assert_eq!(restored.state_hash(), state.state_hash());
        assert_eq!(restored.snapshot(), state.snapshot());
        // The next block applies to both alike.
        let time = state.last_time_ms() + 1;
        let block = next_block(
            &state,
            time,
            vec![Transaction::Spend(Box::new(fake_spend(3, 1, 3)))],
        );
        let a = state.validate_block(&block, &FakeSpends).unwrap();
        let b = restored.validate_block(&block, &FakeSpends).unwrap();
        assert_eq!(a.state_hash(), b.state_hash());
        // A double spend is still refused after the restore.
        let again = next_block(
            &b,
            time + 1,
            vec![Transaction::Spend(Box::new(fake_spend(1, 2, 9)))],
        );
        assert!(b.validate_block(&again, &FakeSpends).is_err());
    }

    #[test]
    fn a_snapshot_of_another_chain_or_garbage_is_refused() {
        let state = busy_state();
        let other = ChainState::genesis(&genesis(3, 5, 3, 2)).unwrap();
        let refused = ChainState::from_snapshot(Arc::clone(other.params()), state.snapshot());
        assert!(
            matches!(refused, Err(ChainError::WrongChain { .. })),
            "{refused:?}"
        );
        assert!(StateSnapshot::decode(b"{not json").is_err());
        let mut text = String::from_utf8(state.snapshot().encode()).unwrap();
        text = text.replacen("\"zeta\":\"", "\"zeta\":\"0", 1);
        let tampered = StateSnapshot::decode(text.as_bytes()).unwrap();
        assert!(ChainState::from_snapshot(Arc::clone(state.params()), tampered).is_err());
    }
}
