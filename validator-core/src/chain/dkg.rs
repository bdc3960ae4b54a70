//! The Coconut keys without a trusted dealer: the distributed key generation
//! ([`crate::coconut::dkg`], GJKR) run through the chain, in key epochs.
//!
//! # Runs and phases
//!
//! A run ([`KeyEpoch`]) starts at genesis, again `key_epoch_blocks` after the previous run
//! completed (if the genesis sets it), and at once after a run fails. Its phases, each ended
//! by the first block after every expected validator has sent its message, or after
//! `phase_blocks` blocks ([`crate::genesis::DkgSchedule`]):
//!
//! 1. **Registration**: each genesis validator registers a receiver key for this run (derived
//!    from its identity secret and the run, so nothing is stored). It ends once at least
//!    `t` have; the participants are the registered validators in genesis order, index 1..=n.
//! 2. **Dealing**: each participant deals (Pedersen commitments, shares encrypted to each
//!    receiver).
//! 3. **Complaints**: each participant discloses its key for every dealing whose shares fail
//!    their commitments (or sends an empty list). QUAL is then fixed: dealers with a dealing
//!    and no upheld complaint. Fewer than `t` fails the run.
//! 4. **Opening**: each qualified dealer publishes `g^{a_k}` of its polynomials.
//! 5. **Opening complaints**: each participant discloses its key for every opening its valid
//!    shares fail (or sends an empty list).
//! 6. **Reconstruction** (only if a qualified dealer did not open, or a complaint against
//!    its opening was upheld): participants disclose their shares of those dealers; `t` of
//!    them rebuild each one's polynomials publicly.
//!
//! Then the key set is a function of the transcript, recorded in the state
//! ([`KeyEpochKeys`]) with the excluded validators and why. Each validator derives its own
//! share from the transcript with its receiver key; no one holds the master secret.
//!
//! # Messages
//!
//! Every message is a [`DkgMessage`] signed by a genesis validator, checked against the
//! run when applied (a complaint's proof, a dealing's shape, an opening's pairing check):
//! refused messages never reach a block, so a malformed dealing, a dealing from a
//! non-validator, a second dealing or a forged complaint is an invalid transaction with its
//! reason, and the dealer that sent only junk ends as "dealt nothing".
//!
//! # Key epochs and spends
//!
//! The key set of the newest completed run is the one credentials are issued under. When a
//! run completes, the previous completed run's credentials stay spendable for
//! `grace_blocks` more blocks ([`KeyEpochKeys::spendable_until`]), then are refused.

mod key_epoch;
mod message;
mod participant;

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use key_epoch::{ExcludedDealer, KeyEpoch, KeyEpochKeys, Phase, DKG_CONTEXT_DOMAIN};
pub use message::{DkgBody, DkgMessage, KeyEpochId, DKG_MESSAGE_DOMAIN};
pub use participant::{Participant, DEALER_SEED_DOMAIN, RECEIVER_SEED_DOMAIN};

use crate::genesis::{Genesis, GenesisHash};
use crate::primitives::sha256;
#[cfg(test)]
use crate::primitives::IdentityKey;

/// Failed runs kept after the newest completed one (a chain whose runs keep failing, say
/// with fewer than `t` validators dealing, must not grow its state without bound).
pub const KEPT_FAILED_RUNS: usize = 4;

/// Domain-separation prefix of the key epochs' hash in the state hash.
pub const KEY_EPOCHS_HASH_DOMAIN: &[u8] = b"mixnet-dkg-key-epochs-v1";

/// The runs the chain keeps: the running one, the completed ones whose credentials are
/// still spendable, and the failed ones after the newest completed run.
#[derive(Debug, Clone)]
pub struct KeyEpochs {
    epochs: BTreeMap<KeyEpochId, KeyEpoch>,
    /// [`KeyEpochs::hash`] once computed; emptied by every change (most blocks change
    /// nothing here, and a run's transcript is tens of kilobytes).
    hash: OnceLock<[u8; 32]>,
}

impl PartialEq for KeyEpochs {
    fn eq(&self, other: &Self) -> bool {
        self.epochs == other.epochs
    }
}

impl Eq for KeyEpochs {}

/// What a block did to the key generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DkgProgress {
    /// Runs whose phase changed, with the new phase.
    pub phases: Vec<(KeyEpochId, Phase)>,
    /// Runs that started.
    pub started: Vec<KeyEpochId>,
}

impl KeyEpochs {
    /// At genesis: run 0, taking registrations.
    pub fn genesis() -> Self {
        let mut epochs = BTreeMap::new();
        epochs.insert(KeyEpochId(0), KeyEpoch::new(KeyEpochId(0), 0));
        Self {
            epochs,
            hash: OnceLock::new(),
        }
    }

    /// From a snapshot's runs.
    pub(crate) fn from_runs(runs: Vec<KeyEpoch>) -> Self {
        Self {
            epochs: runs.into_iter().map(|e| (e.id, e)).collect(),
            hash: OnceLock::new(),
        }
    }

    /// Every kept run, oldest first.
    pub fn runs(&self) -> impl DoubleEndedIterator<Item = &KeyEpoch> + '_ {
        self.epochs.values()
    }

    /// A kept run.
    pub fn get(&self, id: KeyEpochId) -> Option<&KeyEpoch> {
        self.epochs.get(&id)
    }

    /// The run in progress, if any.
    pub fn running(&self) -> Option<&KeyEpoch> {
        self.epochs
            .values()
            .next_back()
            .filter(|e| !matches!(e.phase, Phase::Complete | Phase::Failed))
    }

    /// The newest completed run: the keys credentials are issued under.
    pub fn current(&self) -> Option<(&KeyEpoch, &KeyEpochKeys)> {
        self.epochs
            .values()
            .rev()
            .find_map(|e| e.keys_out.as_ref().map(|k| (e, k)))
    }

    /// The keys of run `id` if its credentials are spendable in a block at `height`, or why
    /// not.
    pub fn spendable(&self, id: KeyEpochId, height: u64) -> Result<&KeyEpochKeys, String> {
        let keys = self
            .epochs
            .get(&id)
            .and_then(|e| e.keys_out.as_ref())
            .ok_or_else(|| format!("key epoch {id} has no keys on this chain"))?;
        match keys.spendable_until {
            Some(until) if height > until => Err(format!(
                "credentials of key epoch {id} were spendable until height {until}"
            )),
            _ => Ok(keys),
        }
    }

    /// Checks `message` against the running run, changing nothing.
    pub fn check(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        message: &DkgMessage,
    ) -> Result<(), String> {
        let run = self
            .running()
            .filter(|r| r.id == message.key_epoch)
            .ok_or_else(|| format!("key epoch {} is not running", message.key_epoch))?;
        run.check(genesis, genesis_hash, &message.validator, &message.body)
    }

    /// Records a message [`KeyEpochs::check`] passed.
    pub fn record(&mut self, message: &DkgMessage) {
        if let Some(run) = self.epochs.get_mut(&message.key_epoch) {
            run.record(&message.validator, &message.body);
            self.hash.take();
        }
    }

    /// After a block's transactions: ends phases that are over, records completed keys,
    /// starts the next run when one is due, and forgets runs no longer needed.
    pub fn end_block(
        &mut self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        height: u64,
    ) -> DkgProgress {
        let schedule = genesis.dkg;
        let mut progress = DkgProgress::default();
        let Some(newest) = self.epochs.keys().next_back().copied() else {
            return progress;
        };
        let mut start_next = false;
        if let Some(run) = self.epochs.get_mut(&newest) {
            if run.advance(genesis, genesis_hash, &schedule, height) {
                progress.phases.push((run.id, run.phase));
                match run.phase {
                    Phase::Complete => self.retire_before(newest, height, schedule.grace_blocks),
                    Phase::Failed => start_next = true,
                    _ => {}
                }
            }
        }
        if let Some((run, keys)) = self.current() {
            if run.id == newest
                && schedule.key_epoch_blocks > 0
                && height >= keys.completed_at.saturating_add(schedule.key_epoch_blocks)
            {
                start_next = true;
            }
        }
        if start_next {
            let id = newest.next();
            self.epochs.insert(id, KeyEpoch::new(id, height));
            progress.started.push(id);
        }
        let kept = self.epochs.len();
        self.prune(height);
        if start_next || !progress.phases.is_empty() || kept != self.epochs.len() {
            self.hash.take();
        }
        progress
    }

    /// Sets the spending deadline of every completed run before `id`.
    fn retire_before(&mut self, id: KeyEpochId, height: u64, grace: u64) {
        for run in self.epochs.range_mut(..id).map(|(_, r)| r) {
            if let Some(keys) = run.keys_out.as_mut() {
                keys.spendable_until
                    .get_or_insert(height.saturating_add(grace));
            }
        }
    }

    /// Drops completed runs past their deadline, and failed runs once a later run has
    /// completed (until then the newest [`KEPT_FAILED_RUNS`] show why there are no new keys).
    fn prune(&mut self, height: u64) {
        let newest = self.epochs.keys().next_back().copied();
        let completed = self.current().map(|(run, _)| run.id);
        let failed: Vec<KeyEpochId> = self
            .epochs
            .values()
            .filter(|r| r.phase == Phase::Failed)
            .map(|r| r.id)
            .collect();
        let oldest_failed_kept = failed
            .len()
            .checked_sub(KEPT_FAILED_RUNS)
            .and_then(|skip| failed.get(skip).copied());
        self.epochs.retain(|id, run| {
            if Some(*id) == newest {
                return true;
            }
            match &run.keys_out {
                Some(keys) => keys.spendable_until.is_none_or(|until| height <= until),
                None => {
                    completed.is_none_or(|c| *id > c)
                        && oldest_failed_kept.is_none_or(|oldest| *id >= oldest)
                }
            }
        });
    }

    /// SHA-256 of the domain and the runs' canonical JSON, for the state hash.
    pub fn hash(&self) -> [u8; 32] {
        *self.hash.get_or_init(|| {
            let runs: Vec<&KeyEpoch> = self.epochs.values().collect();
            let json = crate::chain::transaction::encode_json(&runs);
            sha256(&[KEY_EPOCHS_HASH_DOMAIN, &json])
        })
    }
}

#[cfg(test)]
mod tests;
