//! Transactions waiting for a block, checked against the chain as it will be.
//!
//! # Provisional state
//!
//! The mempool keeps `provisional`: the committed state with every pooled transaction
//! applied in insertion order. A transaction is admitted only if it applies on top of it, so
//! a nonce gap, an overspend counting pending statements, a deposit for a request already
//! paid for (or pending), a second spend of a credential, or a vote for the wrong topology is
//! refused at submission, with the reason. It follows that the pool, in insertion order,
//! applies cleanly on the committed state, and so does every prefix of it.
//!
//! # Cost
//!
//! [`Mempool::insert`] takes a [`VerifiedTx`] (the caller verified its crypto before taking
//! the lock on the mempool) and does map lookups, `O(log n)`, and one application to
//! `provisional`: no crypto (except a topology vote's one ed25519 verification), no copy of
//! the ledger. [`Mempool::check`] does the same without changing anything. The state is
//! copied once per committed block, by [`Mempool::on_commit`], which rebuilds `provisional`
//! from the new committed state and re-applies the remaining transactions, dropping those
//! the block made invalid (a conflicting deposit, spend or nonce another validator's block
//! included).
//!
//! # Selection
//!
//! [`Mempool::select`] takes transactions in insertion order. A statement that does not fit
//! the limits ends the selection, because later statements may depend on it (a nonce, a
//! freed node address). A spend or a vote that does not fit is skipped: no transaction
//! depends on one, and leaving one out only leaves fewer tags spent and fewer votes cast for
//! those after it. So the selection applies cleanly on the committed state.

use std::collections::BTreeMap;

use crate::chain::error::ChainError;
use crate::chain::state::ChainState;
use crate::chain::transaction::{Transaction, TxId, VerifiedTx};
use crate::coconut::verification::ZETA_BYTES;
use crate::primitives::IdentityKey;

/// Bounds of a mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Transactions pooled.
    pub max_txs: usize,
    /// Bytes of transaction encodings pooled.
    pub max_bytes: usize,
    /// Statements pooled per account.
    pub per_account: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_txs: 20_000,
            max_bytes: 32 << 20,
            per_account: 64,
        }
    }
}

/// What [`Mempool::insert`] did with an admissible transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// It was added.
    New,
    /// It was already pooled; nothing changed.
    AlreadyPooled,
}

/// Pooled transactions. See the module docs.
#[derive(Debug)]
pub struct Mempool {
    limits: MempoolLimits,
    /// By insertion sequence number.
    entries: BTreeMap<u64, VerifiedTx>,
    by_id: BTreeMap<TxId, u64>,
    by_tag: BTreeMap<[u8; ZETA_BYTES], u64>,
    per_account: BTreeMap<IdentityKey, usize>,
    bytes: usize,
    next_seq: u64,
    provisional: ChainState,
}

impl Mempool {
    /// An empty mempool on top of `committed`.
    pub fn new(committed: &ChainState, limits: MempoolLimits) -> Self {
        Self {
            limits,
            entries: BTreeMap::new(),
            by_id: BTreeMap::new(),
            by_tag: BTreeMap::new(),
            per_account: BTreeMap::new(),
            bytes: 0,
            next_seq: 0,
            provisional: committed.clone(),
        }
    }

    /// Adds a transaction if it applies on top of the pool and fits the limits. Atomic: on
    /// error nothing changes. See the module docs for the cost.
    pub fn insert(&mut self, tx: VerifiedTx) -> Result<Inserted, ChainError> {
        if self.pooled_same(&tx)? {
            return Ok(Inserted::AlreadyPooled);
        }
        self.check_limits(&tx)?;
        let height = self.provisional.height().saturating_add(1);
        self.provisional.apply_tx(tx.tx(), tx.spend_tag(), height)?;
        self.add(tx);
        Ok(Inserted::New)
    }

    /// Whether [`Mempool::insert`] would accept `tx` now (`Ok` also if it is pooled
    /// already; an error if a different transaction with its id is), changing nothing.
    pub fn check(&self, tx: &VerifiedTx) -> Result<(), ChainError> {
        if self.pooled_same(tx)? {
            return Ok(());
        }
        self.check_limits(tx)?;
        self.provisional.check_tx(tx.tx(), tx.spend_tag())
    }

    /// Whether `tx` itself is pooled. Some ids name a slot rather than the bytes (a
    /// validator's vote for an epoch, its DKG message of a kind, a node's Sphinx key for a
    /// rotation): a different transaction in a pooled one's slot is refused, not taken for it,
    /// so its sender is never told it was accepted when nothing was stored.
    fn pooled_same(&self, tx: &VerifiedTx) -> Result<bool, ChainError> {
        let Some(seq) = self.by_id.get(&tx.id()) else {
            return Ok(false);
        };
        match self.entries.get(seq) {
            Some(pooled) if pooled.tx() == tx.tx() => Ok(true),
            _ => Err(ChainError::SlotTaken(tx.id())),
        }
    }

    fn check_limits(&self, tx: &VerifiedTx) -> Result<(), ChainError> {
        if self.entries.len() >= self.limits.max_txs {
            return Err(ChainError::MempoolFull {
                limit: self.limits.max_txs,
                what: "transactions",
            });
        }
        if self.bytes.saturating_add(tx.encoded_len()) > self.limits.max_bytes {
            return Err(ChainError::MempoolFull {
                limit: self.limits.max_bytes,
                what: "bytes",
            });
        }
        if let Some(account) = tx.tx().account() {
            if self.per_account.get(&account).copied().unwrap_or(0) >= self.limits.per_account {
                return Err(ChainError::AccountFull {
                    account,
                    limit: self.limits.per_account,
                });
            }
        }
        Ok(())
    }

    fn add(&mut self, tx: VerifiedTx) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.by_id.insert(tx.id(), seq);
        if let Some(tag) = tx.spend_tag() {
            self.by_tag.insert(*tag, seq);
        }
        if let Some(account) = tx.tx().account() {
            *self.per_account.entry(account).or_insert(0) += 1;
        }
        self.bytes = self.bytes.saturating_add(tx.encoded_len());
        self.entries.insert(seq, tx);
    }

    fn remove(&mut self, seq: u64) -> Option<VerifiedTx> {
        let tx = self.entries.remove(&seq)?;
        self.by_id.remove(&tx.id());
        if let Some(tag) = tx.spend_tag() {
            self.by_tag.remove(tag);
        }
        if let Some(account) = tx.tx().account() {
            if let Some(count) = self.per_account.get_mut(&account) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_account.remove(&account);
                }
            }
        }
        self.bytes = self.bytes.saturating_sub(tx.encoded_len());
        Some(tx)
    }

    /// Transactions for a block, in insertion order, within `max_txs` transactions,
    /// `max_bytes` of encodings and `max_spends` spends (see the module docs). They apply
    /// cleanly, in this order, on the committed state the mempool was last given.
    pub fn select(&self, max_txs: usize, max_bytes: usize, max_spends: usize) -> Vec<VerifiedTx> {
        let mut out = Vec::new();
        let (mut bytes, mut spends) = (0usize, 0usize);
        for tx in self.entries.values() {
            if out.len() >= max_txs {
                break;
            }
            let is_spend = matches!(tx.tx(), Transaction::Spend(_));
            let next_bytes = bytes.saturating_add(tx.encoded_len());
            if next_bytes <= max_bytes && (!is_spend || spends < max_spends) {
                bytes = next_bytes;
                spends = spends.saturating_add(usize::from(is_spend));
                out.push(tx.clone());
            } else if matches!(tx.tx(), Transaction::Statement(_)) {
                break;
            }
        }
        out
    }

    /// A block was committed: drops the transactions it `included`, rebuilds the provisional
    /// state from `committed` (one copy) and re-applies the remaining transactions in order,
    /// without crypto, dropping those that no longer apply. Returns what was dropped, with
    /// the reason.
    pub fn on_commit(
        &mut self,
        committed: &ChainState,
        included: &[TxId],
    ) -> Vec<(TxId, ChainError)> {
        for id in included {
            if let Some(seq) = self.by_id.get(id).copied() {
                self.remove(seq);
            }
        }
        self.provisional = committed.clone();
        let height = committed.height().saturating_add(1);
        let mut invalid = Vec::new();
        for (seq, tx) in &self.entries {
            if let Err(e) = self.provisional.apply_tx(tx.tx(), tx.spend_tag(), height) {
                invalid.push((*seq, e));
            }
        }
        invalid
            .into_iter()
            .filter_map(|(seq, e)| self.remove(seq).map(|tx| (tx.id(), e)))
            .collect()
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pooled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of pooled transaction encodings.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a transaction is pooled.
    pub fn contains(&self, id: &TxId) -> bool {
        self.by_id.contains_key(id)
    }

    /// A pooled transaction.
    pub fn get(&self, id: &TxId) -> Option<&VerifiedTx> {
        self.by_id.get(id).and_then(|seq| self.entries.get(seq))
    }

    /// The pooled transactions in insertion order (to gossip them, say).
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedTx> + '_ {
        self.entries.values()
    }

    /// The committed state with every pooled transaction applied: an account's next free
    /// nonce is `provisional().account(key).next_nonce`.
    pub fn provisional(&self) -> &ChainState {
        &self.provisional
    }

    /// Whether a spend of this tag is pooled (not yet in a block).
    pub fn pending_spend(&self, zeta: &[u8; ZETA_BYTES]) -> bool {
        self.by_tag.contains_key(zeta)
    }

    /// The limits.
    pub fn limits(&self) -> MempoolLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests;
