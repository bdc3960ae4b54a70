//! The consensus application: answers every message of Malachite's channel API (see the
//! table in the module of each handler) from the committed state, the mempool and the store.
//!
//! * Proposing (`GetValue`): wait until the block interval has passed since the parent,
//!   take what applies cleanly from the mempool, store the block, stream it.
//! * Voting (`ReceivedProposalPart`, `ProcessSyncedValue`): a block is `Valid` only if the
//!   round's proposer streamed and signed it, its time is after its parent's and not ahead of
//!   our clock by more than the allowed drift, and every transaction checks and applies on the
//!   committed state (`ChainState::validate_block`).
//! * Deciding (`Decided`): the block, its certificate and the resulting state hash are
//!   written in one durable transaction before consensus moves on; then the state is
//!   installed, the mempool pruned, and this validator's signature over every topology the
//!   block closed is submitted as a transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, Context as _, Round, Validator as _, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_engine::host::Next;
use tokio::sync::mpsc;

use super::byzantine::{self, Byzantine};
use super::context::{Address, ChainContext, Height, ValidatorSet, ValueId};
use super::dkg::DkgDuty;
use super::shared::ChainShared;
use super::signing::{Provider, BLOCK_STREAM_DOMAIN};
use super::store::ChainStore;
use super::streaming::{self, Reassembly, StreamedBlock};
use validator_core::chain::{
    Block, BlockHeader, ChainState, SpendVerifier, TopologyVote, Transaction, VerifiedTx,
    MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK,
};
use validator_core::genesis::GenesisHash;
use validator_core::primitives::IdentityKey;

/// Timing of block production and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTiming {
    /// Least time between a block and its parent, ms.
    pub interval_ms: u64,
    /// How far a proposed block's time may be ahead of our clock, ms.
    pub max_drift_ms: u64,
}

/// What the application needs besides the engine's channels.
pub struct AppParts {
    /// Shared with the HTTP handlers.
    pub shared: Arc<ChainShared>,
    /// The chain database.
    pub store: Arc<ChainStore>,
    /// This validator's signing key and chain.
    pub provider: Provider,
    /// Its identity key.
    pub identity: ed25519_dalek::SigningKey,
    /// The genesis hash.
    pub genesis_hash: GenesisHash,
    /// The validator set.
    pub validators: ValidatorSet,
    /// Checks credential presentations.
    pub verifier: Arc<dyn SpendVerifier + Send + Sync>,
    /// Block timing.
    pub timing: BlockTiming,
    /// The state is written with every block whose height is a multiple of this.
    pub snapshot_interval: u64,
    /// Called with each transaction this validator originates (its topology signatures), to
    /// relay to the others.
    pub relay: Box<dyn Fn(Transaction) + Send + Sync>,
    /// Wall clock, Unix ms.
    pub clock: fn() -> u64,
    /// Test double of a Byzantine validator (see [`Byzantine`]).
    pub byzantine: Byzantine,
}

/// A fatal application failure: the validator stops rather than sign on a state it cannot
/// vouch for.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// A decided block does not apply to our state: our state or our disk is corrupt.
    #[error("decided block {height} does not apply to this validator's state: {reason}")]
    Diverged {
        /// Its height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// Consensus decided a block this validator never received.
    #[error("decided block {height} ({id}) is unknown here")]
    MissingBlock {
        /// Its height.
        height: u64,
        /// Its id.
        id: ValueId,
    },
    /// A lock was poisoned.
    #[error(transparent)]
    Poisoned(#[from] super::shared::Poisoned),
    /// A worker thread failed.
    #[error("worker: {0}")]
    Worker(String),
    /// The engine never became ready.
    #[error("the consensus engine did not become ready within {0} s (see its log for why)")]
    NotReady(u64),
}

/// How long the engine may take to start listening and ask for the start height.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A block body we hold for the current height, with the state after it when it is valid.
struct Held {
    bytes: Arc<Vec<u8>>,
    after: Option<ChainState>,
}

/// The application loop's state.
pub struct App {
    parts: AppParts,
    me: Address,
    network: mpsc::Sender<NetworkMsg<ChainContext>>,
    reassembly: Reassembly<PeerId>,
    height: Height,
    round: Round,
    /// Blocks of the current height by id (proposed by us, streamed, or synced).
    held: BTreeMap<ValueId, Held>,
    /// Our own proposal per round of the current height.
    ours: BTreeMap<i64, ValueId>,
    /// Complete streams for the next height, checked when it starts: at most one per
    /// proposer ([`hold_early`]).
    early: Vec<StreamedBlock>,
    /// The block the round's proposer streamed, per round of the current height: a second,
    /// different one is equivocation, counted in the status.
    streamed: BTreeMap<i64, ValueId>,
    synced_height: Option<Height>,
    /// Our part in the key generation.
    dkg: DkgDuty,
}

impl App {
    /// The application for the engine's `channels`.
    pub fn new(parts: AppParts, network: mpsc::Sender<NetworkMsg<ChainContext>>) -> Self {
        let me = Address::from(IdentityKey::from(&parts.identity));
        let mut dkg = DkgDuty::new(
            parts.identity.clone(),
            parts.byzantine == Byzantine::BadDkgShare,
        );
        // A restarted validator issues as soon as it runs, with the share its replayed
        // state gives.
        if let Ok(committed) = parts.shared.committed() {
            if let Some(key) = dkg.new_issuing_key(&committed) {
                let _ = parts.shared.set_issuing_key(key);
            }
        }
        Self {
            me,
            network,
            reassembly: Reassembly::new(streaming::Limits::for_blocks(MAX_BLOCK_BYTES)),
            height: Height(0),
            round: Round::Nil,
            held: BTreeMap::new(),
            ours: BTreeMap::new(),
            early: Vec::new(),
            streamed: BTreeMap::new(),
            synced_height: None,
            dkg,
            parts,
        }
    }

    /// Answers the engine until it closes its channel; an error is fatal. The engine says
    /// it is ready once its network listens; if it never does (it only logs why), this fails
    /// after [`READY_TIMEOUT`] instead of leaving a validator that never decides.
    pub async fn run(mut self, mut channels: Channels<ChainContext>) -> Result<(), AppError> {
        let first = tokio::time::timeout(READY_TIMEOUT, channels.consensus.recv())
            .await
            .map_err(|_| AppError::NotReady(READY_TIMEOUT.as_secs()))?;
        let Some(first) = first else {
            return Ok(());
        };
        self.handle(first).await?;
        while let Some(msg) = channels.consensus.recv().await {
            self.handle(msg).await?;
        }
        Ok(())
    }

    async fn handle(&mut self, msg: AppMsg<ChainContext>) -> Result<(), AppError> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let next = Height(self.parts.store.max_height()?.0.saturating_add(1));
                tracing::info!(height = %next, "consensus ready");
                let _ = reply.send((next, self.parts.validators.clone()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                reply_value,
                ..
            } => {
                let values = self.start_round(height, round, proposer).await?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => {
                let id = self.propose(height, round, timeout).await?;
                let _ = reply.send(LocallyProposedValue::new(height, round, id));
                self.stream(height, round, &id).await;
                if self.parts.byzantine == Byzantine::ConflictingProposals {
                    self.stream_a_conflicting_block(height, round, &id).await;
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtension { reply, .. } => {
                let _ = reply.send(Err(
                    malachitebft_app_channel::app::consensus::VoteExtensionError::InvalidVoteExtension,
                ));
            }
            AppMsg::RestreamProposal {
                height,
                round,
                value_id,
                ..
            } => {
                self.stream(height, round, &value_id).await;
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(self.parts.store.min_height()?);
            }
            AppMsg::ReceivedProposalPart { from, part, reply } => {
                let part = super::wire::from_engine(part);
                let value = match self.reassembly.insert(from, part, self.height) {
                    Ok(Some(block)) => self.received_block(block).await?,
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!(peer = %from, error = %e, "proposal part dropped");
                        None
                    }
                };
                let _ = reply.send(value);
            }
            AppMsg::GetValidatorSet { reply, .. } => {
                let _ = reply.send(Some(self.parts.validators.clone()));
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                let next = self.decided(certificate).await?;
                let _ = reply.send(next);
            }
            AppMsg::GetDecidedValue { height, reply } => {
                let value = self
                    .parts
                    .store
                    .decided(height)?
                    .map(|d| RawDecidedValue::new(Bytes::from(d.block), d.certificate));
                let _ = reply.send(value);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let value = self
                    .synced_block(height, round, proposer, value_bytes.to_vec())
                    .await?;
                let _ = reply.send(value);
            }
        }
        Ok(())
    }

    async fn start_round(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
    ) -> Result<Vec<ProposedValue<ChainContext>>, AppError> {
        if height != self.height {
            self.held.clear();
            self.ours.clear();
            self.streamed.clear();
            self.height = height;
        }
        self.round = round;
        self.reassembly.retain_heights(height);
        self.parts.shared.update_status(|s| {
            s.working_height = height.0;
            s.round = round.as_i64();
        });
        // Streams that completed before this height started, and (after a crash) blocks of
        // this round found on disk.
        let mut values = Vec::new();
        let early: Vec<StreamedBlock> = std::mem::take(&mut self.early);
        for block in early {
            if block.height == height && block.round == round {
                if let Some(v) = self.received_block(block).await? {
                    values.push(v);
                }
            } else if block.height > height {
                self.early.push(block);
            }
        }
        for (r, id, bytes) in self.parts.store.undecided_at(height)? {
            if r == round.as_i64() && !values.iter().any(|v| v.value == id) {
                let validity = self
                    .check(height, &id, Arc::new(bytes), Some(proposer))
                    .await?;
                values.push(proposed(height, round, proposer, id, validity));
            }
        }
        Ok(values)
    }

    /// Builds (or, after a restart within the round, reuses) our block for `(height, round)`.
    async fn propose(
        &mut self,
        height: Height,
        round: Round,
        timeout: Duration,
    ) -> Result<ValueId, AppError> {
        if let Some(id) = self.ours.get(&round.as_i64()) {
            return Ok(*id);
        }
        for (r, id, bytes) in self.parts.store.undecided_at(height)? {
            if r == round.as_i64() {
                if let Ok(block) = Block::decode(&bytes) {
                    if block.header.proposer == IdentityKey::from(&self.parts.identity) {
                        self.held.entry(id).or_insert(Held {
                            bytes: Arc::new(bytes),
                            after: None,
                        });
                        self.ours.insert(r, id);
                        return Ok(id);
                    }
                }
            }
        }
        let committed = self.parts.shared.committed()?;
        // Wait for the block interval, but never past half the time consensus gives us.
        let due = committed
            .last_time_ms()
            .saturating_add(self.parts.timing.interval_ms);
        let now = (self.parts.clock)();
        let wait = Duration::from_millis(due.saturating_sub(now)).min(timeout / 2);
        tokio::time::sleep(wait).await;
        let time_ms = (self.parts.clock)().max(committed.last_time_ms().saturating_add(1));
        let header = BlockHeader {
            height: height.0,
            time_ms,
            parent: committed.last_block(),
            proposer: IdentityKey::from(&self.parts.identity),
            state_hash: committed.state_hash(),
        };
        let txs = self.parts.shared.mempool()?.select(
            MAX_BLOCK_TXS,
            MAX_BLOCK_TX_BYTES,
            MAX_SPENDS_PER_BLOCK,
        );
        let (txs, after) = match committed.apply_verified_block(&header, &txs) {
            Ok(after) => (txs, Some(after)),
            Err(e) => {
                // The mempool's provisional state and the committed one disagree: a bug, but
                // not one worth stopping the chain for. Propose an empty block instead.
                tracing::error!(error = %e, "mempool selection does not apply; proposing an empty block");
                let after = committed.apply_verified_block(&header, &[]).ok();
                (Vec::new(), after)
            }
        };
        let mut transactions: Vec<Transaction> = txs.into_iter().map(VerifiedTx::into_tx).collect();
        if self.parts.byzantine == Byzantine::InvalidProposals {
            transactions.push(byzantine::invalid_transaction(&self.parts.genesis_hash));
        }
        let block = Block {
            header,
            transactions,
        };
        let bytes = block.encode();
        let id = ValueId(*Block::id_of(&bytes).as_bytes());
        self.persist_undecided(height, round, id, bytes.clone())
            .await?;
        self.held.insert(
            id,
            Held {
                bytes: Arc::new(bytes),
                after: if self.parts.byzantine == Byzantine::No {
                    after
                } else {
                    None
                },
            },
        );
        self.ours.insert(round.as_i64(), id);
        tracing::debug!(%height, %round, block = %id, "proposing");
        Ok(id)
    }

    async fn persist_undecided(
        &self,
        height: Height,
        round: Round,
        id: ValueId,
        bytes: Vec<u8>,
    ) -> Result<(), AppError> {
        let store = Arc::clone(&self.parts.store);
        tokio::task::spawn_blocking(move || store.put_undecided(height, round, &id, &bytes))
            .await
            .map_err(|e| AppError::Worker(e.to_string()))??;
        Ok(())
    }

    /// Publishes the parts of the block `id` as our proposal for `(height, round)`.
    async fn stream(&mut self, height: Height, round: Round, id: &ValueId) {
        let bytes = match self.held.get(id) {
            Some(h) => Arc::clone(&h.bytes),
            None => match self.parts.store.undecided_by_id(height, id) {
                Ok(Some(bytes)) => Arc::new(bytes),
                _ => {
                    tracing::warn!(%height, %round, block = %id, "asked to stream a block we do not have");
                    return;
                }
            },
        };
        self.publish(height, round, &bytes, streaming::stream_id(height, round))
            .await;
    }

    /// Signs `bytes` as our block for `(height, round)` and publishes its parts under
    /// `stream_id`.
    async fn publish(&mut self, height: Height, round: Round, bytes: &[u8], stream_id: Bytes) {
        let digest = streaming::stream_digest(height, round, bytes);
        let signature = self.parts.provider.sign_raw(BLOCK_STREAM_DOMAIN, &digest);
        for mut part in streaming::split(height, round, self.me, bytes, signature) {
            part.stream_id = stream_id.clone();
            if self
                .network
                .send(NetworkMsg::PublishProposalPart(super::wire::to_engine(
                    part,
                )))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// The Byzantine test double's second proposal for `(height, round)`: the block `id`
    /// one millisecond later (as valid as the first), under a stream id of its own.
    async fn stream_a_conflicting_block(&mut self, height: Height, round: Round, id: &ValueId) {
        let Some(held) = self.held.get(id) else {
            return;
        };
        let Some(bytes) = byzantine::twin(&held.bytes) else {
            return;
        };
        let mut stream_id = streaming::stream_id(height, round).to_vec();
        stream_id.push(0xff);
        tracing::warn!(%height, %round, "TEST DOUBLE: proposing a second, conflicting block");
        self.publish(height, round, &bytes, Bytes::from(stream_id))
            .await;
    }

    /// A complete stream: checked to come from the round's proposer, stored, validated.
    async fn received_block(
        &mut self,
        block: StreamedBlock,
    ) -> Result<Option<ProposedValue<ChainContext>>, AppError> {
        let expected = *ChainContext
            .select_proposer(&self.parts.validators, block.height, block.round)
            .address();
        if block.proposer != expected {
            tracing::debug!(height = %block.height, round = %block.round, "stream from a validator that is not the round's proposer");
            return Ok(None);
        }
        let Some(key) = self.parts.validators.public_key(&block.proposer) else {
            return Ok(None);
        };
        let digest = streaming::stream_digest(block.height, block.round, &block.bytes);
        if !self
            .parts
            .provider
            .verify_raw(BLOCK_STREAM_DOMAIN, &digest, &block.signature, key)
        {
            tracing::debug!(height = %block.height, "stream with a bad proposer signature");
            return Ok(None);
        }
        if block.height.0 == self.height.0.saturating_add(1) {
            hold_early(&mut self.early, block);
            return Ok(None);
        }
        if block.height != self.height {
            return Ok(None);
        }
        let id = ValueId(*Block::id_of(&block.bytes).as_bytes());
        match self.streamed.get(&block.round.as_i64()) {
            None => {
                self.streamed.insert(block.round.as_i64(), id);
            }
            Some(first) if *first != id => {
                // Both are signed by the proposer: evidence of equivocation. The engine gets
                // both and keeps the first; votes decide which, if any, is decided.
                tracing::warn!(height = %block.height, round = %block.round, proposer = %block.proposer, first = %first, second = %id, "the round's proposer streamed two different blocks");
                self.parts
                    .shared
                    .update_status(|s| s.conflicting_proposals += 1);
            }
            Some(_) => {}
        }
        self.persist_undecided(block.height, block.round, id, block.bytes.clone())
            .await?;
        let validity = self
            .check(
                block.height,
                &id,
                Arc::new(block.bytes),
                Some(block.proposer),
            )
            .await?;
        Ok(Some(proposed(
            block.height,
            block.round,
            block.proposer,
            id,
            validity,
        )))
    }

    /// A block a peer served with its commit certificate while we catch up.
    async fn synced_block(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        bytes: Vec<u8>,
    ) -> Result<Option<ProposedValue<ChainContext>>, AppError> {
        if bytes.len() > MAX_BLOCK_BYTES || height != self.height {
            return Ok(None);
        }
        let id = ValueId(*Block::id_of(&bytes).as_bytes());
        self.persist_undecided(height, round, id, bytes.clone())
            .await?;
        // The certificate already proves a quorum decided it; our check guards our own state.
        let validity = self.check(height, &id, Arc::new(bytes), None).await?;
        self.synced_height = Some(height);
        Ok(Some(proposed(height, round, proposer, id, validity)))
    }

    /// Validates block `id` against the committed state (once per id), remembering it.
    async fn check(
        &mut self,
        height: Height,
        id: &ValueId,
        bytes: Arc<Vec<u8>>,
        proposer: Option<Address>,
    ) -> Result<Validity, AppError> {
        if let Some(held) = self.held.get(id) {
            if held.after.is_some() {
                return Ok(Validity::Valid);
            }
        }
        let committed = self.parts.shared.committed()?;
        let verifier = PooledFirst {
            shared: Arc::clone(&self.parts.shared),
            verifier: Arc::clone(&self.parts.verifier),
        };
        let now = (self.parts.clock)();
        let max_drift = self.parts.timing.max_drift_ms;
        let checked = Arc::clone(&bytes);
        let result = tokio::task::spawn_blocking(move || -> Result<ChainState, String> {
            let block = Block::decode(&checked).map_err(|e| e.to_string())?;
            if let Some(proposer) = proposer {
                if Address::from(block.header.proposer) != proposer {
                    return Err("the block names another proposer than the stream".into());
                }
                if block.header.time_ms > now.saturating_add(max_drift) {
                    return Err(format!(
                        "block time {} is {} ms ahead of this validator's clock",
                        block.header.time_ms,
                        block.header.time_ms - now
                    ));
                }
            }
            committed
                .validate_block(&block, &verifier)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| AppError::Worker(e.to_string()))?;
        let (validity, after) = match result {
            Ok(after) => (Validity::Valid, Some(after)),
            Err(reason) => {
                tracing::info!(%height, block = %id, %reason, "block refused");
                (Validity::Invalid, None)
            }
        };
        self.held.insert(*id, Held { bytes, after });
        Ok(validity)
    }

    async fn decided(
        &mut self,
        certificate: CommitCertificate<ChainContext>,
    ) -> Result<Next<ChainContext>, AppError> {
        let height = certificate.height;
        let id = certificate.value_id;
        let committed = self.parts.shared.committed()?;
        if committed.height() >= height.0 {
            // Already committed (a replay after a restart): move on.
            return Ok(Next::Start(
                Height(committed.height().saturating_add(1)),
                self.parts.validators.clone(),
            ));
        }
        let bytes = match self.held.get(&id) {
            Some(h) => Arc::clone(&h.bytes),
            None => Arc::new(self.parts.store.undecided_by_id(height, &id)?.ok_or(
                AppError::MissingBlock {
                    height: height.0,
                    id,
                },
            )?),
        };
        let after = match self.held.get_mut(&id).and_then(|h| h.after.take()) {
            Some(after) => after,
            None => {
                let block = Block::decode(&bytes).map_err(|e| AppError::Diverged {
                    height: height.0,
                    reason: e.to_string(),
                })?;
                committed
                    .validate_block(&block, self.parts.verifier.as_ref())
                    .map_err(|e| AppError::Diverged {
                        height: height.0,
                        reason: e.to_string(),
                    })?
            }
        };
        let block = Block::decode(&bytes).map_err(|e| AppError::Diverged {
            height: height.0,
            reason: e.to_string(),
        })?;
        let state_hash = *after.state_hash().as_bytes();
        let snapshot = height
            .0
            .is_multiple_of(self.parts.snapshot_interval.max(1))
            .then(|| after.snapshot().encode());
        {
            let store = Arc::clone(&self.parts.store);
            let bytes = Arc::clone(&bytes);
            let cert = certificate.clone();
            tokio::task::spawn_blocking(move || {
                store.commit(height, &bytes, &cert, &state_hash, snapshot.as_deref())
            })
            .await
            .map_err(|e| AppError::Worker(e.to_string()))??;
        }
        let included: Vec<_> = block.transactions.iter().map(Transaction::id).collect();
        let new_topologies: Vec<_> = after
            .topology_records()
            .filter(|r| r.height == height.0)
            .map(|r| r.topology.clone())
            .collect();
        // The share of a key epoch this block completed is installed before the state that
        // serves its key set, so a client that sees the keys finds this validator issuing.
        if let Some(key) = self.dkg.new_issuing_key(&after) {
            self.parts.shared.set_issuing_key(key)?;
        }
        self.parts.shared.commit(after, &included)?;
        let synced = self.synced_height == Some(height);
        self.parts.shared.update_status(|s| {
            s.signers_of_last_commit = certificate.commit_signatures.len();
            for signature in &certificate.commit_signatures {
                if let Some(key) = signature.address.identity() {
                    s.last_signed.insert(key, height.0);
                }
            }
            s.syncing = synced;
        });
        tracing::info!(
            %height,
            block = %id,
            txs = block.transactions.len(),
            time_ms = block.header.time_ms,
            "block committed"
        );
        self.held.clear();
        self.ours.clear();
        self.sign_topologies(new_topologies)?;
        self.resend_missing_votes()?;
        self.take_part_in_key_generation()?;
        Ok(Next::Start(
            Height(height.0.saturating_add(1)),
            self.parts.validators.clone(),
        ))
    }

    /// The key generation message we owe after this block, if any, submitted and relayed.
    fn take_part_in_key_generation(&mut self) -> Result<(), AppError> {
        let committed = self.parts.shared.committed()?;
        if let Some(tx) = self.dkg.after_commit(&committed) {
            self.submit_own(tx, "key generation message")?;
        }
        Ok(())
    }

    /// Submits a transaction this validator originates to its mempool and relays it.
    fn submit_own(&self, tx: Transaction, what: &'static str) -> Result<(), AppError> {
        let committed = self.parts.shared.committed()?;
        match VerifiedTx::verify(tx.clone(), &committed, self.parts.verifier.as_ref()) {
            Ok(verified) => match self.parts.shared.submit(verified)? {
                Ok(_) => (self.parts.relay)(tx),
                Err(e) => tracing::warn!(error = %e, "own {what} refused"),
            },
            Err(e) => tracing::warn!(error = %e, "own {what} does not verify"),
        }
        Ok(())
    }

    /// Our vote for each of the two newest topologies that no decided block holds yet, sent
    /// again every [`VOTE_RESEND_BLOCKS`] blocks: a relay can reach a peer before that peer
    /// has decided the block that built the topology (it refuses the vote as for an unknown
    /// epoch), and our own proposals may not make it in, so one relay is not enough.
    fn resend_missing_votes(&self) -> Result<(), AppError> {
        let committed = self.parts.shared.committed()?;
        let me = IdentityKey::from(&self.parts.identity);
        let height = committed.height();
        let due: Vec<_> = committed
            .topology_records()
            .rev()
            .take(2)
            .filter(|r| !r.signatures.contains_key(&me))
            .filter(|r| {
                let age = height.saturating_sub(r.height);
                age >= VOTE_RESEND_BLOCKS && age.is_multiple_of(VOTE_RESEND_BLOCKS)
            })
            .map(|r| r.topology.clone())
            .collect();
        for topology in due {
            let vote = Transaction::TopologySignature(TopologyVote {
                epoch: topology.epoch_id,
                topology_hash: topology.topology_hash(),
                signature: topology.sign(&self.parts.genesis_hash, &self.parts.identity),
            });
            let pooled = self.parts.shared.mempool()?.get(&vote.id()).is_some();
            if pooled {
                (self.parts.relay)(vote);
            } else {
                self.submit_own(vote, "topology signature")?;
            }
        }
        Ok(())
    }

    /// Our signature over each topology a block just built, as a transaction.
    fn sign_topologies(
        &self,
        topologies: Vec<validator_core::topology::Topology>,
    ) -> Result<(), AppError> {
        for topology in topologies {
            let vote = Transaction::TopologySignature(TopologyVote {
                epoch: topology.epoch_id,
                topology_hash: topology.topology_hash(),
                signature: topology.sign(&self.parts.genesis_hash, &self.parts.identity),
            });
            self.submit_own(vote, "topology signature")?;
        }
        Ok(())
    }
}

/// Blocks after which a vote of ours that no decided block holds is sent again.
const VOTE_RESEND_BLOCKS: u64 = 8;

/// Checks a block's spends, reusing the mempool's check of an identical spend (relays put
/// most spends in every validator's mempool, checked there once; a pairing check is the
/// dearest thing in a block).
struct PooledFirst {
    shared: Arc<ChainShared>,
    verifier: Arc<dyn SpendVerifier + Send + Sync>,
}

impl SpendVerifier for PooledFirst {
    fn verify_spend(
        &self,
        spend: &validator_core::api::SpendBody,
        keys: Option<&validator_core::credential::VerificationKeySet>,
    ) -> Result<[u8; validator_core::coconut::verification::ZETA_BYTES], String> {
        let tx = Transaction::Spend(Box::new(spend.clone()));
        let pooled = self.shared.mempool().ok().and_then(|pool| {
            pool.get(&tx.id())
                .filter(|v| v.tx() == &tx)
                .and_then(|v| v.spend_tag().copied())
        });
        match pooled {
            Some(tag) => Ok(tag),
            None => self.verifier.verify_spend(spend, keys),
        }
    }
}

/// What the engine is told about a block: proposed by `proposer` for `(height, round)`, valid
/// or not. (Blocks travel as parts, so the round it was locked in is the signed proposal's
/// business, not this value's.)
fn proposed(
    height: Height,
    round: Round,
    proposer: Address,
    value: ValueId,
    validity: Validity,
) -> ProposedValue<ChainContext> {
    ProposedValue {
        height,
        round,
        valid_round: Round::Nil,
        proposer,
        value,
        validity,
    }
}

/// Most complete streams held for the next height.
pub const EARLY_STREAMS: usize = 16;

/// Holds `block`, a complete stream for the next height whose signature checked, until that
/// height starts: one per proposer (a later stream replaces its proposer's earlier one, so
/// a proposer that signs many blocks holds one place however many it sends), at most
/// [`EARLY_STREAMS`].
fn hold_early(early: &mut Vec<StreamedBlock>, block: StreamedBlock) {
    if let Some(held) = early.iter_mut().find(|b| b.proposer == block.proposer) {
        *held = block;
    } else if early.len() < EARLY_STREAMS {
        early.push(block);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chain::signing::Signature;

    fn stream(proposer: u8, round: u32, tag: u8) -> StreamedBlock {
        StreamedBlock {
            height: Height(5),
            round: Round::new(round),
            proposer: Address([proposer; 32]),
            bytes: vec![tag; 8],
            signature: Signature([tag; 64]),
        }
    }

    #[test]
    fn a_proposer_holds_one_early_place_however_many_streams_it_signs() {
        let mut early = Vec::new();
        hold_early(&mut early, stream(1, 0, 10));
        hold_early(&mut early, stream(2, 1, 20));
        // Proposer 1 equivocates: a thousand more blocks, each replacing the last.
        for tag in 0..1_000u32 {
            hold_early(&mut early, stream(1, tag % 3, (tag % 250) as u8));
        }
        assert_eq!(early.len(), 2);
        let one = early
            .iter()
            .find(|b| b.proposer == Address([1; 32]))
            .unwrap();
        assert_eq!(one.bytes, vec![(999 % 250) as u8; 8], "the latest stream");
        let two = early
            .iter()
            .find(|b| b.proposer == Address([2; 32]))
            .unwrap();
        assert_eq!(two.bytes, vec![20; 8], "another proposer's stream is kept");
    }

    #[test]
    fn distinct_proposers_fill_at_most_the_cap() {
        let mut early = Vec::new();
        for p in 0..40u8 {
            hold_early(&mut early, stream(p, 0, p));
        }
        assert_eq!(early.len(), EARLY_STREAMS);
        // A held proposer still replaces its entry when the buffer is full.
        hold_early(&mut early, stream(3, 1, 99));
        assert_eq!(early.len(), EARLY_STREAMS);
        assert!(early.iter().any(|b| b.bytes == vec![99; 8]));
    }
}
