//! The application state the chain decides, and how a block changes it.
//!
//! # Applying a block
//!
//! [`ChainState::validate_block`] (a block received from a proposer) and
//! [`ChainState::apply_verified_block`] (the proposer's own block, built from verified
//! mempool transactions) return the state after the block, or why the block is invalid;
//! `self` never changes. In order:
//!
//! 1. The header: height `self.height + 1`, parent `self.last_block`, state hash
//!    `self.state_hash()`, time strictly after `self.last_time_ms` (the genesis time at
//!    height 0), proposer a genesis validator. Whether the proposer is the round's proposer
//!    and whether the time is close to local time are consensus questions for the caller.
//! 2. Limits: [`MAX_BLOCK_TXS`], [`MAX_SPENDS_PER_BLOCK`], [`MAX_BLOCK_BYTES`] of encoding.
//! 3. The state is cloned once, and each transaction is verified (received blocks only) and
//!    applied in order. Any invalid transaction makes the whole block invalid: a proposer
//!    must never include one.
//! 4. Height, last block id and time are set, then epochs are closed (below).
//!
//! # Transactions
//!
//! * A statement applies by the ledger's rules ([`crate::ledger`]).
//! * A spend applies if its tag is not spent; the gateway, nonce and height are recorded.
//! * A key generation message applies if the running run takes it
//!   ([`crate::chain::dkg`]); after the block's epochs are closed, the run's phase advances.
//! * A topology vote applies if its signer is a genesis validator, the chain keeps a topology
//!   of its epoch, its hash is that topology's, the signer has not voted for it yet, and the
//!   signature verifies over that topology's signing bytes.
//!
//! # Epochs
//!
//! After a block's transactions, every epoch `E` not yet closed whose cutoff
//! ([`crate::chain::epochs`]) is at or before the block time is closed: the topology of
//! `E + 1` is selected from the state *after* the block ([`crate::selection`], seeded by the
//! chain hash: the hash of the newest nonempty topology, as the epoch-batch service does),
//! and recorded with the block's height. After an idle stretch only the last
//! [`KEPT_TOPOLOGIES`] epochs are built; at most [`KEPT_TOPOLOGIES`] records are kept, the
//! oldest dropped first. Validators then sign the new topologies and submit the signatures
//! as votes; the votes in decided blocks are what [`ChainState::topology`] serves.
//!
//! # State hash
//!
//! [`ChainState::state_hash`] is SHA-256 of (primitive rules in [`crate::primitives`]):
//!
//! ```text
//! "mixnet-validator-chain-state-v1" || genesis_hash || height:u64 || last_block[32]
//! || last_time_ms:u64 || ledger state hash[32]
//! || n:u64 || n * (zeta[96] || gateway[32] || nonce[32] || height:u64)       by zeta
//! || m:u64 || m * (epoch:u64 || topology_hash[32] || height:u64
//!                  || k:u64 || k * (validator[32] || signature[64]))          by epoch, validator
//! || chain_hash[32] || next_to_close:u64 || key epochs hash[32] || sphinx keys hash[32]
//! ```
//!
//! The Sphinx keys' hash is [`SphinxKeys::hash`].
//!
//! The key epochs' hash is [`KeyEpochs::hash`]: SHA-256 of their canonical JSON.
//!
//! It is computed once per state value and cached.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::api::SpendBody;
use crate::chain::block::{
    encode_parts, Block, BlockHeader, BlockId, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_SPENDS_PER_BLOCK,
};
use crate::chain::dkg::{DkgMessage, KeyEpochs};
use crate::chain::error::ChainError;
use crate::chain::params::ChainParams;
use crate::chain::sphinx_keys::{SphinxKeyAnnouncement, SphinxKeys};
use crate::chain::transaction::{
    check_crypto, SpendVerifier, TopologyVote, Transaction, VerifiedTx,
};
use crate::coconut::verification::ZETA_BYTES;
use crate::credential::{zeta_to_bs58, SpendNonce};
use crate::genesis::{Genesis, GenesisHash};
use crate::ledger::{AccountState, BondRecord, DepositRecord, Ledger};
use crate::primitives::{hash32_type, sha256, Encoder, IdentityKey};
use crate::selection::select_active_set;
use crate::statement::CredentialRequestDigest;
use crate::topology::{EpochId, SignedTopology, Topology, TopologyHash, TopologySignature};

/// Topologies kept: the next, the current and recent past ones (an hour of one-minute
/// epochs), so clients and auditors can fetch recent history.
pub const KEPT_TOPOLOGIES: usize = 64;
/// Domain-separation prefix of the chain state hash.
pub const CHAIN_STATE_DOMAIN: &[u8] = b"mixnet-validator-chain-state-v1";

hash32_type!(
    /// SHA-256 of a chain state's canonical encoding (see the module docs).
    ChainStateHash
);

/// A spent credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRecord {
    /// The gateway it was spent at.
    pub gateway: IdentityKey,
    /// The holder's nonce for that presentation.
    pub nonce: SpendNonce,
    /// The block that spent it.
    pub height: u64,
}

/// A topology on the chain with the validators' votes for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyRecord {
    /// The topology.
    pub topology: Topology,
    /// Its hash.
    pub hash: TopologyHash,
    /// The height of the block that built it.
    pub height: u64,
    /// The signatures of decided votes, by validator.
    pub signatures: BTreeMap<IdentityKey, TopologySignature>,
}

impl TopologyRecord {
    /// The topology with its signatures, as served to clients.
    pub fn signed(&self) -> SignedTopology {
        SignedTopology {
            topology: self.topology.clone(),
            signatures: self.signatures.values().cloned().collect(),
        }
    }
}

/// Everything the chain decides. See the module docs.
#[derive(Debug)]
pub struct ChainState {
    params: Arc<ChainParams>,
    height: u64,
    last_block: BlockId,
    last_time_ms: u64,
    ledger: Ledger,
    spent: BTreeMap<[u8; ZETA_BYTES], SpendRecord>,
    topologies: BTreeMap<EpochId, TopologyRecord>,
    /// Hash of the newest nonempty topology: the chain selection seeds hang from. Empty
    /// topologies do not move it.
    chain_hash: TopologyHash,
    /// The first epoch whose cutoff no block has passed yet.
    next_to_close: EpochId,
    /// The runs of the key generation ([`crate::chain::dkg`]).
    dkg: KeyEpochs,
    /// The nodes' announced Sphinx keys ([`crate::chain::sphinx_keys`]).
    sphinx_keys: SphinxKeys,
    /// [`ChainState::state_hash`], once computed; emptied by every change.
    hash: OnceLock<ChainStateHash>,
}

impl Clone for ChainState {
    fn clone(&self) -> Self {
        // Tests count state copies to show which paths copy the state (one per block).
        #[cfg(test)]
        crate::test_util::clone_probe::note("chain_state");
        Self {
            params: Arc::clone(&self.params),
            height: self.height,
            last_block: self.last_block,
            last_time_ms: self.last_time_ms,
            ledger: self.ledger.clone(),
            spent: self.spent.clone(),
            topologies: self.topologies.clone(),
            chain_hash: self.chain_hash,
            next_to_close: self.next_to_close,
            dkg: self.dkg.clone(),
            sphinx_keys: self.sphinx_keys.clone(),
            hash: self.hash.clone(),
        }
    }
}

impl ChainState {
    /// The state at height 0: the genesis ledger, nothing spent, and the topology of epoch 0
    /// (selected from the genesis ledger, recorded at height 0, as the epoch-batch service
    /// builds it at start). Fails only if epoch 0's window does not fit in a `u64` of ms.
    pub fn genesis(genesis: &Genesis) -> Result<Self, ChainError> {
        Self::from_params(Arc::new(ChainParams::new(genesis)))
    }

    /// A state from a snapshot's parts (`chain::snapshot`); its hash is computed afresh.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_snapshot_parts(
        params: Arc<ChainParams>,
        height: u64,
        last_block: BlockId,
        last_time_ms: u64,
        ledger: Ledger,
        spent: BTreeMap<[u8; ZETA_BYTES], SpendRecord>,
        topologies: BTreeMap<EpochId, TopologyRecord>,
        chain_hash: TopologyHash,
        next_to_close: EpochId,
        dkg: KeyEpochs,
        sphinx_keys: SphinxKeys,
    ) -> Self {
        Self {
            params,
            height,
            last_block,
            last_time_ms,
            ledger,
            spent,
            topologies,
            chain_hash,
            next_to_close,
            dkg,
            sphinx_keys,
            hash: OnceLock::new(),
        }
    }

    /// Every spent tag with its record, by tag.
    pub(crate) fn spent_entries(
        &self,
    ) -> impl Iterator<Item = (&[u8; ZETA_BYTES], &SpendRecord)> + '_ {
        self.spent.iter()
    }

    /// [`ChainState::genesis`] for already computed parameters.
    pub fn from_params(params: Arc<ChainParams>) -> Result<Self, ChainError> {
        let mut state = Self {
            height: 0,
            last_block: BlockId::GENESIS,
            last_time_ms: params.genesis().genesis_time_unix_ms,
            ledger: Ledger::from_genesis(params.genesis()),
            spent: BTreeMap::new(),
            topologies: BTreeMap::new(),
            chain_hash: TopologyHash::NONE,
            next_to_close: EpochId(0),
            dkg: KeyEpochs::genesis(),
            sphinx_keys: SphinxKeys::default(),
            hash: OnceLock::new(),
            params,
        };
        state.build_topology(EpochId(0), 0)?;
        Ok(state)
    }

    /// Checks a received block (verifying every transaction's crypto) and returns the state
    /// after it. See the module docs for the rules.
    pub fn validate_block(
        &self,
        block: &Block,
        spends: &dyn SpendVerifier,
    ) -> Result<ChainState, ChainError> {
        let txs = &block.transactions;
        self.check_header(&block.header)?;
        check_counts(txs.iter())?;
        let id = block_id_within_limit(&block.encode())?;
        let height = block.header.height;
        let mut next = self.clone();
        for (index, tx) in txs.iter().enumerate() {
            check_crypto(tx, &self.params, &self.dkg, spends)
                .and_then(|spend_tag| next.apply_tx(tx, spend_tag.as_ref(), height))
                .map_err(|e| in_block(index, tx, e))?;
        }
        next.finish_block(&block.header, id)?;
        Ok(next)
    }

    /// The state after a block of already verified transactions (the proposer's own block):
    /// the same rules as [`ChainState::validate_block`] without the crypto of statements
    /// and spends.
    pub fn apply_verified_block(
        &self,
        header: &BlockHeader,
        txs: &[VerifiedTx],
    ) -> Result<ChainState, ChainError> {
        self.check_header(header)?;
        check_counts(txs.iter().map(VerifiedTx::tx))?;
        let id = block_id_within_limit(&encode_parts(header, txs.iter().map(VerifiedTx::tx)))?;
        let mut next = self.clone();
        for (index, tx) in txs.iter().enumerate() {
            next.apply_tx(tx.tx(), tx.spend_tag(), header.height)
                .map_err(|e| in_block(index, tx.tx(), e))?;
        }
        next.finish_block(header, id)?;
        Ok(next)
    }

    fn check_header(&self, header: &BlockHeader) -> Result<(), ChainError> {
        let expected = self.height.saturating_add(1);
        if header.height != expected {
            return Err(ChainError::BadHeight {
                expected,
                got: header.height,
            });
        }
        if header.parent != self.last_block {
            return Err(ChainError::BadParent {
                expected: self.last_block,
                got: header.parent,
            });
        }
        if header.time_ms <= self.last_time_ms {
            return Err(ChainError::TimeNotIncreasing {
                last_ms: self.last_time_ms,
                got_ms: header.time_ms,
            });
        }
        if !self.params.is_validator(&header.proposer) {
            return Err(ChainError::UnknownProposer(header.proposer));
        }
        let expected = self.state_hash();
        if header.state_hash != expected {
            return Err(ChainError::BadStateHash {
                expected,
                got: header.state_hash,
            });
        }
        Ok(())
    }

    /// Applies one transaction whose crypto was checked (`spend_tag`: a spend's verified
    /// tag). Atomic: on error nothing changes. The mempool applies with `height` one past
    /// the committed height.
    pub(crate) fn apply_tx(
        &mut self,
        tx: &Transaction,
        spend_tag: Option<&[u8; ZETA_BYTES]>,
        height: u64,
    ) -> Result<(), ChainError> {
        match tx {
            Transaction::Statement(signed) => {
                self.ledger.apply_verified(signed)?;
            }
            Transaction::Spend(spend) => {
                let tag = tag_of(spend, spend_tag);
                self.check_spendable(spend, height)?;
                self.check_unspent(&tag)?;
                let record = SpendRecord {
                    gateway: spend.gateway,
                    nonce: spend.nonce,
                    height,
                };
                self.spent.insert(tag, record);
            }
            Transaction::TopologySignature(vote) => {
                self.check_vote(vote)?;
                if let Some(record) = self.topologies.get_mut(&vote.epoch) {
                    record
                        .signatures
                        .insert(vote.signature.validator, vote.signature.clone());
                }
            }
            Transaction::Dkg(message) => {
                self.check_dkg(message)?;
                self.dkg.record(message);
            }
            Transaction::SphinxKey(announcement) => {
                self.check_sphinx_key(announcement)?;
                self.sphinx_keys.record(announcement);
            }
        }
        self.hash.take();
        Ok(())
    }

    /// Whether [`ChainState::apply_tx`] would apply `tx`, changing nothing.
    pub(crate) fn check_tx(
        &self,
        tx: &Transaction,
        spend_tag: Option<&[u8; ZETA_BYTES]>,
    ) -> Result<(), ChainError> {
        match tx {
            Transaction::Statement(signed) => {
                self.ledger.check_verified(signed)?;
            }
            Transaction::Spend(spend) => {
                self.check_spendable(spend, self.height.saturating_add(1))?;
                self.check_unspent(&tag_of(spend, spend_tag))?;
            }
            Transaction::TopologySignature(vote) => self.check_vote(vote)?,
            Transaction::Dkg(message) => self.check_dkg(message)?,
            Transaction::SphinxKey(announcement) => self.check_sphinx_key(announcement)?,
        }
        Ok(())
    }

    /// A spend's key epoch is past its deadline at `height`. (An epoch the chain holds no
    /// keys of is refused by the spend verifier, which gets no keys to verify with.)
    fn check_spendable(&self, spend: &SpendBody, height: u64) -> Result<(), ChainError> {
        let expired = self
            .dkg
            .get(spend.key_epoch)
            .and_then(|run| run.keys_out.as_ref())
            .and_then(|keys| keys.spendable_until)
            .filter(|until| height > *until);
        match expired {
            Some(until) => Err(ChainError::KeyEpochNotSpendable(format!(
                "credentials of key epoch {} were spendable until height {until}",
                spend.key_epoch
            ))),
            None => Ok(()),
        }
    }

    fn check_unspent(&self, tag: &[u8; ZETA_BYTES]) -> Result<(), ChainError> {
        if self.spent.contains_key(tag) {
            return Err(ChainError::DoubleSpend {
                zeta: zeta_to_bs58(tag),
            });
        }
        Ok(())
    }

    fn check_dkg(&self, message: &DkgMessage) -> Result<(), ChainError> {
        self.dkg
            .check(self.params.genesis(), &self.params.genesis_hash(), message)
            .map_err(|reason| ChainError::DkgRefused {
                validator: message.validator,
                reason,
            })
    }

    /// The rotation "now" is the last block's time: what the mempool and a block's
    /// transactions are checked against alike.
    fn check_sphinx_key(&self, announcement: &SphinxKeyAnnouncement) -> Result<(), ChainError> {
        let last_time_ms = self.last_time_ms;
        self.sphinx_keys.check(
            self.params.rotation(),
            |schedule| schedule.rotation_at(last_time_ms),
            |node| {
                self.ledger
                    .bonded_nodes()
                    .any(|b| b.node.identity_key == *node)
            },
            announcement,
        )?;
        Ok(())
    }

    fn check_vote(&self, vote: &TopologyVote) -> Result<(), ChainError> {
        let signer = vote.signature.validator;
        if !self.params.is_validator(&signer) {
            return Err(ChainError::NotAValidator(signer));
        }
        let record = self
            .topologies
            .get(&vote.epoch)
            .ok_or(ChainError::UnknownEpoch(vote.epoch))?;
        if vote.topology_hash != record.hash {
            return Err(ChainError::TopologyMismatch {
                epoch: vote.epoch,
                expected: record.hash,
                got: vote.topology_hash,
            });
        }
        if record.signatures.contains_key(&signer) {
            return Err(ChainError::DuplicateVote {
                epoch: vote.epoch,
                validator: signer,
            });
        }
        let message = record.topology.signing_bytes(&self.params.genesis_hash());
        if !signer.verify(&message, &vote.signature.signature) {
            return Err(ChainError::BadTopologySignature {
                epoch: vote.epoch,
                validator: signer,
            });
        }
        Ok(())
    }

    fn finish_block(&mut self, header: &BlockHeader, id: BlockId) -> Result<(), ChainError> {
        self.hash.take();
        self.height = header.height;
        self.last_block = id;
        self.last_time_ms = header.time_ms;
        self.close_epochs(header.time_ms, header.height)?;
        if let Some(rotation) = self.params.rotation() {
            self.sphinx_keys.prune(rotation.rotation_at(header.time_ms));
        }
        self.dkg.end_block(
            self.params.genesis(),
            &self.params.genesis_hash(),
            header.height,
        );
        Ok(())
    }

    /// Closes the epochs whose cutoff is at or before `time_ms` (see the module docs).
    fn close_epochs(&mut self, time_ms: u64, height: u64) -> Result<(), ChainError> {
        let Some(last) = self.params.schedule().last_closed_at(time_ms) else {
            return Ok(());
        };
        if last < self.next_to_close {
            return Ok(());
        }
        // After an idle stretch, only the newest KEPT_TOPOLOGIES would be kept anyway.
        let kept = u64::try_from(KEPT_TOPOLOGIES).unwrap_or(u64::MAX);
        let first = self
            .next_to_close
            .0
            .max(last.0.saturating_sub(kept.saturating_sub(1)));
        for closing in first..=last.0 {
            self.build_topology(EpochId(closing).next(), height)?;
        }
        self.next_to_close = last.next();
        Ok(())
    }

    /// Selects and records the topology of `epoch` from the current ledger.
    fn build_topology(&mut self, epoch: EpochId, height: u64) -> Result<(), ChainError> {
        let selection = self.params.selection(epoch, self.chain_hash);
        let topology = match self.params.rotation() {
            None => {
                let active = select_active_set(&selection, self.ledger.bonded_nodes())
                    .map_err(|e| ChainError::epoch(epoch, e))?;
                Topology::from_selection(self.params.genesis(), &active, height)
            }
            Some(rotation) => {
                // Only nodes with a key for the epoch's rotation are eligible, with that key.
                let current = rotation.rotation_of_epoch(epoch);
                let keyed: Vec<BondRecord> = self
                    .ledger
                    .bonded_nodes()
                    .filter_map(|bond| {
                        let key = self.sphinx_keys.get(&bond.node.identity_key, current)?;
                        let mut keyed = bond.clone();
                        keyed.node.sphinx_key = key;
                        Some(keyed)
                    })
                    .collect();
                let active = select_active_set(&selection, keyed.iter())
                    .map_err(|e| ChainError::epoch(epoch, e))?;
                Topology::from_selection(self.params.genesis(), &active, height).map(|t| {
                    t.with_rotation(current, |node| self.sphinx_keys.get(node, current.next()))
                })
            }
        }
        .map_err(|e| ChainError::epoch(epoch, e))?;
        let hash = topology.topology_hash();
        if !topology.mixnodes.is_empty() || !topology.gateways.is_empty() {
            self.chain_hash = hash;
        }
        self.hash.take();
        self.topologies.insert(
            epoch,
            TopologyRecord {
                topology,
                hash,
                height,
                signatures: BTreeMap::new(),
            },
        );
        while self.topologies.len() > KEPT_TOPOLOGIES {
            self.topologies.pop_first();
        }
        Ok(())
    }

    /// The state hash (see the module docs); what the next block's header must name.
    pub fn state_hash(&self) -> ChainStateHash {
        *self.hash.get_or_init(|| self.compute_hash())
    }

    fn compute_hash(&self) -> ChainStateHash {
        let mut enc = Encoder::new(CHAIN_STATE_DOMAIN);
        enc.fixed(self.params.genesis_hash().as_bytes())
            .u64(self.height)
            .fixed(self.last_block.as_bytes())
            .u64(self.last_time_ms)
            .fixed(self.ledger.state_hash().as_bytes());
        enc.count(self.spent.len());
        for (zeta, r) in &self.spent {
            enc.fixed(zeta)
                .fixed(r.gateway.as_bytes())
                .fixed(r.nonce.as_bytes())
                .u64(r.height);
        }
        enc.count(self.topologies.len());
        for (epoch, r) in &self.topologies {
            enc.u64(epoch.0)
                .fixed(r.hash.as_bytes())
                .u64(r.height)
                .count(r.signatures.len());
            for (validator, sig) in &r.signatures {
                enc.fixed(validator.as_bytes())
                    .fixed(&sig.signature.to_bytes());
            }
        }
        enc.fixed(self.chain_hash.as_bytes())
            .u64(self.next_to_close.0)
            .fixed(&self.dkg.hash())
            .fixed(&self.sphinx_keys.hash());
        ChainStateHash(sha256(&[&enc.finish()]))
    }

    /// The chain's parameters (share them with the threads that verify transactions).
    pub fn params(&self) -> &Arc<ChainParams> {
        &self.params
    }

    /// The chain id.
    pub fn genesis_hash(&self) -> GenesisHash {
        self.params.genesis_hash()
    }

    /// Height of the last applied block (0: none).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Id of the last applied block ([`BlockId::GENESIS`] at height 0).
    pub fn last_block(&self) -> BlockId {
        self.last_block
    }

    /// Time of the last applied block (the genesis time at height 0).
    pub fn last_time_ms(&self) -> u64 {
        self.last_time_ms
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// An account's balance and next nonce.
    pub fn account(&self, key: &IdentityKey) -> Option<&AccountState> {
        self.ledger.account(key)
    }

    /// The bonded nodes, by identity key.
    pub fn bonded_nodes(&self) -> impl Iterator<Item = &BondRecord> + '_ {
        self.ledger.bonded_nodes()
    }

    /// The deposit paying for a credential request.
    pub fn deposit(&self, digest: &CredentialRequestDigest) -> Option<&DepositRecord> {
        self.ledger.deposit(digest)
    }

    /// Where and when a credential tag was spent.
    pub fn spend(&self, zeta: &[u8; ZETA_BYTES]) -> Option<&SpendRecord> {
        self.spent.get(zeta)
    }

    /// Number of spent credentials.
    pub fn spent_count(&self) -> usize {
        self.spent.len()
    }

    /// The topology of `epoch` with its decided signatures, if kept.
    pub fn topology(&self, epoch: EpochId) -> Option<SignedTopology> {
        self.topologies.get(&epoch).map(TopologyRecord::signed)
    }

    /// The record of `epoch`'s topology, if kept.
    pub fn topology_record(&self, epoch: EpochId) -> Option<&TopologyRecord> {
        self.topologies.get(&epoch)
    }

    /// The kept topology records, by epoch.
    pub fn topology_records(&self) -> impl DoubleEndedIterator<Item = &TopologyRecord> + '_ {
        self.topologies.values()
    }

    /// The topology of the epoch containing `now_ms`, if kept.
    pub fn topology_at_time(&self, now_ms: u64) -> Option<SignedTopology> {
        self.topology(self.params.schedule().epoch_at(now_ms))
    }

    /// The newest epoch with a topology.
    pub fn latest_topology_epoch(&self) -> Option<EpochId> {
        self.topologies.keys().next_back().copied()
    }

    /// The first epoch no block has closed yet: a statement in the next block feeds the
    /// topology of the epoch after it (or a later one, if the block comes after its cutoff).
    pub fn next_to_close(&self) -> EpochId {
        self.next_to_close
    }

    /// The key generation's runs: the keys credentials are issued and spent under.
    pub fn key_epochs(&self) -> &KeyEpochs {
        &self.dkg
    }

    /// The nodes' announced Sphinx keys.
    pub fn sphinx_keys(&self) -> &SphinxKeys {
        &self.sphinx_keys
    }

    /// The seed chain: hash of the newest nonempty topology.
    pub fn chain_hash(&self) -> TopologyHash {
        self.chain_hash
    }
}

/// A spend's tag: the verified one, or (never reached by callers that verified) zeta.
fn tag_of(spend: &SpendBody, verified: Option<&[u8; ZETA_BYTES]>) -> [u8; ZETA_BYTES] {
    verified
        .copied()
        .unwrap_or_else(|| spend.theta.zeta_bytes())
}

fn check_counts<'a>(txs: impl Iterator<Item = &'a Transaction>) -> Result<(), ChainError> {
    let (mut count, mut spends) = (0usize, 0usize);
    for tx in txs {
        count = count.saturating_add(1);
        if matches!(tx, Transaction::Spend(_)) {
            spends = spends.saturating_add(1);
        }
    }
    if count > MAX_BLOCK_TXS {
        return Err(ChainError::TooManyTxs {
            count,
            max: MAX_BLOCK_TXS,
        });
    }
    if spends > MAX_SPENDS_PER_BLOCK {
        return Err(ChainError::TooManySpends {
            count: spends,
            max: MAX_SPENDS_PER_BLOCK,
        });
    }
    Ok(())
}

fn block_id_within_limit(encoded: &[u8]) -> Result<BlockId, ChainError> {
    if encoded.len() > MAX_BLOCK_BYTES {
        return Err(ChainError::TooManyBytes {
            bytes: encoded.len(),
            max: MAX_BLOCK_BYTES,
        });
    }
    Ok(Block::id_of(encoded))
}

fn in_block(index: usize, tx: &Transaction, source: ChainError) -> ChainError {
    ChainError::InvalidTransaction {
        index,
        id: tx.id(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests;
