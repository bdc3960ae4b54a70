//! One validator's state machine: pending statement batches, the ledger, signed topologies
//! and the spent-credential set. Pure: time is an argument, and whatever must go to the peers
//! is returned as [`Outbound`] messages for the IO layer to deliver.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;

use super::error::ServiceError;
use super::schedule::EpochSchedule;
use validator_core::api::{
    AccountView, PeerTopologySignature, RelayedStatement, SpendBody, StatementAccepted, Status,
};
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::coconut::SignerIndex;
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::ledger::{BatchResult, BondRecord, Ledger, PendingPool};
use validator_core::primitives::IdentityKey;
use validator_core::selection::{select_active_set, SelectionParams};
use validator_core::statement::{
    CredentialRequestDigest, SignedStatement, StatementBody, StatementId,
};
use validator_core::topology::{
    EpochId, SignedTopology, Topology, TopologyHash, TopologySignature,
};

/// Topologies kept for serving: the next, the current and recent past ones (an hour of
/// one-minute epochs), so clients and auditors can fetch recent history.
pub const KEPT_TOPOLOGIES: u64 = 64;

/// Limits of the pending pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Statements pending per epoch.
    pub per_epoch: usize,
    /// Statements pending per account per epoch.
    pub per_account: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            per_epoch: 20_000,
            per_account: 64,
        }
    }
}

/// A message for the other validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A statement to add to their batches.
    Statement(Box<RelayedStatement>),
    /// This validator's signature over its newest topology.
    Signature(PeerTopologySignature),
    /// A credential spent here.
    Spent(Box<SpendBody>),
}

/// What closing an epoch did, for the log.
#[derive(Debug, Clone)]
pub struct EpochClosed {
    /// The epoch whose batch was applied.
    pub epoch: EpochId,
    /// Each statement of the batch with its result.
    pub results: Vec<BatchResult>,
    /// The topology built for the next epoch.
    pub next_topology: TopologyHash,
    /// Its mixnodes and gateways.
    pub next_sizes: (usize, usize),
}

#[derive(Debug, Clone)]
struct TopologyRecord {
    topology: Topology,
    hash: TopologyHash,
    signatures: BTreeMap<IdentityKey, TopologySignature>,
}

/// The state of one validator.
#[derive(Debug)]
pub struct ValidatorState {
    genesis: Genesis,
    genesis_hash: GenesisHash,
    schedule: EpochSchedule,
    identity: SigningKey,
    me: IdentityKey,
    validators: BTreeSet<IdentityKey>,
    limits: PoolLimits,
    ledger: Ledger,
    pools: BTreeMap<EpochId, PendingPool>,
    applied_through: Option<EpochId>,
    topologies: BTreeMap<EpochId, TopologyRecord>,
    early_signatures: BTreeMap<EpochId, Vec<PeerTopologySignature>>,
    /// Hash of the newest nonempty topology: the chain selection seeds hang from. Empty
    /// topologies do not move it, so validators that start at different times before anything
    /// is bonded agree.
    chain_hash: TopologyHash,
    spent: BTreeSet<[u8; ZETA_BYTES]>,
    coconut_index: Option<SignerIndex>,
}

impl ValidatorState {
    /// A validator of `genesis` starting at `now_ms` with a fresh ledger; it builds and signs
    /// the topology of the current epoch at once.
    ///
    /// Fails if `identity` is not one of the genesis validators.
    pub fn new(
        genesis: Genesis,
        identity: SigningKey,
        limits: PoolLimits,
        coconut_index: Option<SignerIndex>,
        now_ms: u64,
    ) -> Result<(Self, Vec<Outbound>), ServiceError> {
        let me = IdentityKey::from(&identity);
        let validators: BTreeSet<IdentityKey> =
            genesis.validators.iter().map(|v| v.identity_key).collect();
        if !validators.contains(&me) {
            return Err(ServiceError::NotAValidator(me));
        }
        let schedule = EpochSchedule::from_genesis(&genesis);
        let genesis_hash = genesis.genesis_hash();
        let ledger = Ledger::from_genesis(&genesis);
        let mut state = Self {
            genesis,
            genesis_hash,
            schedule,
            identity,
            me,
            validators,
            limits,
            ledger,
            pools: BTreeMap::new(),
            applied_through: None,
            topologies: BTreeMap::new(),
            early_signatures: BTreeMap::new(),
            chain_hash: TopologyHash::NONE,
            spent: BTreeSet::new(),
            coconut_index,
        };
        let current = schedule.epoch_at(now_ms);
        let out = state.build_topology(current)?;
        if let Some(previous) = current.0.checked_sub(1) {
            state.applied_through = Some(EpochId(previous));
        }
        Ok((state, vec![out]))
    }

    /// This validator's identity.
    pub fn identity(&self) -> IdentityKey {
        self.me
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The epoch timing.
    pub fn schedule(&self) -> &EpochSchedule {
        &self.schedule
    }

    /// The ledger as of the last applied batch.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The next instant [`ValidatorState::tick`] has work to do.
    pub fn next_deadline(&self) -> u64 {
        self.schedule.cutoff(self.next_to_close())
    }

    fn next_to_close(&self) -> EpochId {
        self.applied_through.map_or(EpochId(0), EpochId::next)
    }

    /// Closes every epoch whose cutoff has passed: applies its batch, builds and signs the
    /// next topology. Returns what was closed and the signatures to send.
    pub fn tick(&mut self, now_ms: u64) -> Result<(Vec<EpochClosed>, Vec<Outbound>), ServiceError> {
        let mut closed = Vec::new();
        let mut out = Vec::new();
        while self.schedule.cutoff(self.next_to_close()) <= now_ms {
            let epoch = self.next_to_close();
            let batch = self
                .pools
                .remove(&epoch)
                .map(|mut p| p.take())
                .unwrap_or_default();
            let results = self.ledger.apply_batch(&batch);
            self.applied_through = Some(epoch);
            let next = epoch.next();
            out.push(self.build_topology(next)?);
            let record = self.topologies.get(&next);
            closed.push(EpochClosed {
                epoch,
                results,
                next_topology: record.map_or(TopologyHash::NONE, |r| r.hash),
                next_sizes: record.map_or((0, 0), |r| {
                    (r.topology.mixnodes.len(), r.topology.gateways.len())
                }),
            });
        }
        Ok((closed, out))
    }

    fn build_topology(&mut self, epoch: EpochId) -> Result<Outbound, ServiceError> {
        let params = SelectionParams::from_genesis(&self.genesis, epoch, self.chain_hash);
        let active = select_active_set(&params, self.ledger.bonded_nodes())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let topology = Topology::from_selection(&self.genesis, &active, 0)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let hash = topology.topology_hash();
        if !topology.mixnodes.is_empty() || !topology.gateways.is_empty() {
            self.chain_hash = hash;
        }
        let own = topology.sign(&self.genesis_hash, &self.identity);
        let mut record = TopologyRecord {
            topology,
            hash,
            signatures: BTreeMap::from([(self.me, own.clone())]),
        };
        for early in self.early_signatures.remove(&epoch).unwrap_or_default() {
            // A peer that signed other bytes is reported when it pushes again; drop it here.
            let _ = Self::admit_signature(&self.genesis_hash, &mut record, early);
        }
        self.topologies.insert(epoch, record);
        let oldest = epoch.0.saturating_sub(KEPT_TOPOLOGIES);
        self.topologies.retain(|e, _| e.0 >= oldest);
        self.early_signatures.retain(|e, _| e.0 > epoch.0);
        Ok(Outbound::Signature(PeerTopologySignature {
            epoch,
            topology_hash: hash,
            signature: own,
        }))
    }

    /// A statement a client submitted here: checked against the ledger and everything already
    /// pending (so an overspend, a reused nonce or a bad signature is refused now, with the
    /// reason), collected for the intake epoch, and relayed to the peers.
    pub fn submit(
        &mut self,
        statement: SignedStatement,
        now_ms: u64,
    ) -> Result<(StatementAccepted, Vec<Outbound>), ServiceError> {
        let id = statement.id();
        if let Some(epoch) = self.pending_epoch_of(&id) {
            return Ok((
                StatementAccepted {
                    statement_id: id,
                    applies_at_end_of: epoch,
                },
                Vec::new(),
            ));
        }
        let epoch = self.check_submission(&statement, now_ms)?;
        let limits = self.limits;
        let genesis_hash = self.genesis_hash;
        self.pools
            .entry(epoch)
            .or_insert_with(|| PendingPool::new(genesis_hash, limits.per_epoch, limits.per_account))
            .insert(statement.clone(), &self.ledger)
            .map_err(ServiceError::Statement)?;
        let relay = RelayedStatement::sign(statement, epoch, &self.genesis_hash, &self.identity);
        Ok((
            StatementAccepted {
                statement_id: id,
                applies_at_end_of: epoch,
            },
            vec![Outbound::Statement(Box::new(relay))],
        ))
    }

    /// Whether [`ValidatorState::submit`] would accept `statement` now (unless it is already
    /// pending), without changing anything; returns the epoch it would join. Cheap next to the
    /// work a statement pays for, so it runs first.
    pub fn check_submission(
        &self,
        statement: &SignedStatement,
        now_ms: u64,
    ) -> Result<EpochId, ServiceError> {
        let epoch = self.schedule.intake_epoch(now_ms).max(self.next_to_close());
        let mut provisional = self.ledger.clone();
        for (_, pool) in self.pools.range(..=epoch) {
            let batch: Vec<SignedStatement> = pool.iter().cloned().collect();
            provisional.apply_batch(&batch);
        }
        provisional
            .apply(statement)
            .map_err(ServiceError::Statement)?;
        Ok(epoch)
    }

    fn pending_epoch_of(&self, id: &StatementId) -> Option<EpochId> {
        self.pools
            .iter()
            .find(|(_, p)| p.contains(id))
            .map(|(e, _)| *e)
    }

    /// A statement relayed by another validator, for the epoch it tagged.
    pub fn accept_relay(
        &mut self,
        relayed: RelayedStatement,
        now_ms: u64,
    ) -> Result<(), ServiceError> {
        self.check_peer(&relayed.relayer)?;
        if !relayed.verify(&self.genesis_hash) {
            return Err(ServiceError::BadPeerSignature(relayed.relayer));
        }
        let id = relayed.statement.id();
        if self.pending_epoch_of(&id).is_some() {
            return Ok(());
        }
        let epoch = relayed.epoch;
        if epoch < self.next_to_close() {
            return Err(ServiceError::RelayTooLate {
                epoch,
                applied_through: self.applied_through.unwrap_or_default(),
            });
        }
        let horizon = self.schedule.intake_epoch(now_ms).next();
        if epoch > horizon {
            return Err(ServiceError::RelayTooEarly { epoch, horizon });
        }
        let limits = self.limits;
        let genesis_hash = self.genesis_hash;
        self.pools
            .entry(epoch)
            .or_insert_with(|| PendingPool::new(genesis_hash, limits.per_epoch, limits.per_account))
            .insert(relayed.statement, &self.ledger)
            .map_err(ServiceError::Statement)?;
        Ok(())
    }

    fn check_peer(&self, key: &IdentityKey) -> Result<(), ServiceError> {
        if *key == self.me || !self.validators.contains(key) {
            return Err(ServiceError::NotAPeer(*key));
        }
        Ok(())
    }

    /// A peer's signature over its topology for an epoch. Kept if it signs the same bytes as
    /// ours; buffered if we have not built that topology yet.
    pub fn accept_topology_signature(
        &mut self,
        sig: PeerTopologySignature,
    ) -> Result<(), ServiceError> {
        self.check_peer(&sig.signature.validator)?;
        if let Some(record) = self.topologies.get_mut(&sig.epoch) {
            return Self::admit_signature(&self.genesis_hash, record, sig);
        }
        let next = self.next_to_close().next();
        if sig.epoch > self.next_to_close() && sig.epoch <= next.next() {
            let buffered = self.early_signatures.entry(sig.epoch).or_default();
            if buffered.len() < self.validators.len() {
                buffered.push(sig);
            }
            return Ok(());
        }
        Err(ServiceError::UnknownEpoch(sig.epoch))
    }

    fn admit_signature(
        genesis_hash: &GenesisHash,
        record: &mut TopologyRecord,
        sig: PeerTopologySignature,
    ) -> Result<(), ServiceError> {
        if sig.topology_hash != record.hash {
            return Err(ServiceError::TopologyMismatch {
                epoch: sig.epoch,
                ours: record.hash,
                theirs: sig.topology_hash,
            });
        }
        let message = record.topology.signing_bytes(genesis_hash);
        if !sig
            .signature
            .validator
            .verify(&message, &sig.signature.signature)
        {
            return Err(ServiceError::BadPeerSignature(sig.signature.validator));
        }
        record
            .signatures
            .insert(sig.signature.validator, sig.signature);
        Ok(())
    }

    /// The topology of `epoch` with every signature collected, if kept.
    pub fn signed_topology(&self, epoch: EpochId) -> Option<SignedTopology> {
        self.topologies.get(&epoch).map(|r| SignedTopology {
            topology: r.topology.clone(),
            signatures: r.signatures.values().cloned().collect(),
        })
    }

    /// The topology valid at `now_ms`.
    pub fn current_topology(&self, now_ms: u64) -> Option<SignedTopology> {
        self.signed_topology(self.schedule.epoch_at(now_ms))
    }

    /// An account with its pending statements counted.
    pub fn account_view(&self, account: &IdentityKey) -> Option<AccountView> {
        let state = self.ledger.account(account)?;
        let pending = self
            .pools
            .values()
            .flat_map(PendingPool::iter)
            .filter(|s| s.statement.account == *account)
            .map(|s| s.statement.nonce.saturating_add(1))
            .max()
            .unwrap_or(0);
        Some(AccountView {
            account: *account,
            balance: state.balance,
            next_nonce: state.next_nonce,
            next_free_nonce: pending.max(state.next_nonce),
        })
    }

    /// The bonded nodes.
    pub fn bonded_nodes(&self) -> Vec<BondRecord> {
        self.ledger.bonded_nodes().cloned().collect()
    }

    /// Status for `/v1/status`.
    pub fn status(&self, now_ms: u64) -> Status {
        Status {
            identity_key: self.me,
            genesis_hash: self.genesis_hash,
            current_epoch: self.schedule.epoch_at(now_ms),
            applied_through: self.applied_through,
            ledger_state_hash: self.ledger.state_hash(),
            pending_statements: self.pools.values().map(PendingPool::len).sum(),
            bonded_nodes: self.ledger.bonded_nodes().count(),
            coconut_index: self.coconut_index,
        }
    }

    /// Whether the deposit paying for `digest` is applied or pending here already.
    pub fn deposit_known(&self, deposit: &SignedStatement) -> bool {
        let digest = match &deposit.statement.body {
            StatementBody::Deposit {
                credential_request_digest,
                ..
            } => credential_request_digest,
            _ => return false,
        };
        self.ledger.deposit(digest).is_some() || self.pending_epoch_of(&deposit.id()).is_some()
    }

    /// Checks that `deposit` pays `amount` for `digest`.
    pub fn check_deposit(
        deposit: &SignedStatement,
        amount: u64,
        digest: &CredentialRequestDigest,
    ) -> Result<(), ServiceError> {
        match &deposit.statement.body {
            StatementBody::Deposit {
                amount: paid,
                credential_request_digest,
            } if *paid == amount && credential_request_digest == digest => Ok(()),
            StatementBody::Deposit { .. } => Err(ServiceError::DepositMismatch),
            _ => Err(ServiceError::NotADeposit),
        }
    }

    /// Marks a verified presentation's tag spent. `Err(AlreadySpent)` if it was.
    pub fn mark_spent(&mut self, zeta: [u8; ZETA_BYTES]) -> Result<(), ServiceError> {
        if self.spent.insert(zeta) {
            Ok(())
        } else {
            Err(ServiceError::AlreadySpent(
                validator_core::credential::zeta_to_bs58(&zeta),
            ))
        }
    }

    /// Whether a tag is spent.
    pub fn is_spent(&self, zeta: &[u8; ZETA_BYTES]) -> bool {
        self.spent.contains(zeta)
    }
}

#[cfg(test)]
mod tests;
