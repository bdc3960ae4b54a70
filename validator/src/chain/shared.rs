//! What the consensus application and the HTTP handlers share: the committed state (swapped
//! whole on each decision, so a reader never waits for a block to apply), the mempool (its
//! lock is held only for cheap, crypto-free work), the committed height to wait on, and the
//! engine's status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use validator_core::chain::dkg::KeyEpochId;
use validator_core::chain::{ChainError, ChainState, Inserted, Mempool, TxId, VerifiedTx};
use validator_core::coconut::KeyPair;
use validator_core::primitives::IdentityKey;

/// How the engine is doing, for `/v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStatus {
    /// Height consensus works on.
    pub working_height: u64,
    /// Round within it.
    pub round: i64,
    /// Validators whose precommit is in the last commit certificate.
    pub signers_of_last_commit: usize,
    /// Whether the last decided block came through sync (catching up) rather than a round
    /// this validator took part in.
    pub syncing: bool,
    /// Rounds in which the proposer streamed a second, different block, since start.
    pub conflicting_proposals: u64,
    /// Per validator, the height of the newest commit certificate holding its precommit.
    pub last_signed: BTreeMap<IdentityKey, u64>,
}

/// This validator's share of the key credentials are issued under: the newest completed
/// key epoch's.
#[derive(Clone)]
pub struct IssuingKey {
    /// The key epoch.
    pub key_epoch: KeyEpochId,
    /// The share (its index and secret), derived from the chain's key generation.
    pub pair: Arc<KeyPair>,
}

impl std::fmt::Debug for IssuingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingKey")
            .field("key_epoch", &self.key_epoch)
            .field("index", &self.pair.index())
            .finish_non_exhaustive()
    }
}

/// State shared by the application loop and the HTTP handlers.
#[derive(Debug)]
pub struct ChainShared {
    committed: RwLock<Arc<ChainState>>,
    mempool: Mutex<Mempool>,
    height: watch::Sender<u64>,
    status: Mutex<EngineStatus>,
    issuing: RwLock<Option<IssuingKey>>,
}

/// A poisoned lock: a panic while holding it. Nothing holds these locks across code that can
/// panic, so this is a bug; handlers answer 500.
#[derive(Debug, Clone, thiserror::Error)]
#[error("chain state lock poisoned")]
pub struct Poisoned;

impl ChainShared {
    /// Shared state starting from `committed` with an empty mempool.
    pub fn new(committed: ChainState, mempool: Mempool) -> Self {
        let (height, _) = watch::channel(committed.height());
        Self {
            committed: RwLock::new(Arc::new(committed)),
            mempool: Mutex::new(mempool),
            height,
            status: Mutex::new(EngineStatus::default()),
            issuing: RwLock::new(None),
        }
    }

    /// The key this validator issues credentials with, once the chain's key generation has
    /// completed (and this validator holds a share of it).
    pub fn issuing_key(&self) -> Result<Option<IssuingKey>, Poisoned> {
        self.issuing.read().map(|k| k.clone()).map_err(|_| Poisoned)
    }

    /// Installs the share of a newly completed key epoch.
    pub fn set_issuing_key(&self, key: IssuingKey) -> Result<(), Poisoned> {
        *self.issuing.write().map_err(|_| Poisoned)? = Some(key);
        Ok(())
    }

    /// The committed state (a snapshot; later decisions do not change it).
    pub fn committed(&self) -> Result<Arc<ChainState>, Poisoned> {
        self.committed
            .read()
            .map(|s| Arc::clone(&s))
            .map_err(|_| Poisoned)
    }

    /// The mempool.
    pub fn mempool(&self) -> Result<MutexGuard<'_, Mempool>, Poisoned> {
        self.mempool.lock().map_err(|_| Poisoned)
    }

    /// Adds a transaction whose cryptography was checked (outside any lock).
    pub fn submit(&self, tx: VerifiedTx) -> Result<Result<Inserted, ChainError>, Poisoned> {
        Ok(self.mempool()?.insert(tx))
    }

    /// Installs the state after a decision and prunes the mempool against it.
    pub fn commit(&self, state: ChainState, included: &[TxId]) -> Result<(), Poisoned> {
        let height = state.height();
        let dropped = self.mempool()?.on_commit(&state, included);
        for (id, reason) in dropped {
            tracing::debug!(tx = %id, %reason, "pending transaction dropped: a block made it invalid");
        }
        *self.committed.write().map_err(|_| Poisoned)? = Arc::new(state);
        self.height.send_replace(height);
        Ok(())
    }

    /// The engine's status.
    pub fn status(&self) -> Result<EngineStatus, Poisoned> {
        self.status.lock().map(|s| s.clone()).map_err(|_| Poisoned)
    }

    /// Updates the engine's status.
    pub fn update_status(&self, f: impl FnOnce(&mut EngineStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Waits until `check` answers `Some` for a committed state, at most `timeout`; `None` on
    /// timeout. `check` runs on the current state first, then after each decision.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&ChainState) -> Option<T>,
    ) -> Result<Option<T>, Poisoned> {
        let mut heights = self.height.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = check(&*self.committed()?) {
                return Ok(Some(found));
            }
            match tokio::time::timeout_at(deadline, heights.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the sender is gone (shutting down).
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }
}
