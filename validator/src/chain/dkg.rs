//! This validator's part in the key generation ([`validator_core::chain::dkg`]): after each
//! decided block, the message its run's phase owes (sent once, again only if a few blocks
//! pass without it being decided: a restart empties the mempool), and the key share of the
//! newest completed key epoch, derived from the chain and checked against its key set (at
//! start, and whenever a run completes), which is what it issues credentials with.

use validator_core::chain::dkg::{DkgBody, DkgMessage, KeyEpochId, Participant, Phase};
use validator_core::chain::{ChainState, Transaction};
use validator_core::coconut::KeyPair;

use super::shared::IssuingKey;

/// Blocks to wait for a sent message to be decided before sending it again.
const RESEND_AFTER_BLOCKS: u64 = 8;

/// What this validator does in the key generation.
pub struct DkgDuty {
    participant: Participant,
    /// The run and phase of the last message sent, and the height it was sent at.
    sent: Option<(KeyEpochId, Phase, u64)>,
    /// The newest run seen, with its phase (to log changes once).
    seen: Option<(KeyEpochId, Phase)>,
    /// Test double: deal a share that fails its commitments to the next participant.
    bad_share: bool,
    /// The key epoch whose share was last derived (or found missing).
    derived: Option<KeyEpochId>,
}

impl DkgDuty {
    /// The duty of the validator with `identity`; `bad_share` makes it a test double that
    /// deals a bad share.
    pub fn new(identity: ed25519_dalek::SigningKey, bad_share: bool) -> Self {
        Self {
            participant: Participant::new(identity),
            sent: None,
            seen: None,
            bad_share,
            derived: None,
        }
    }

    /// This validator's share of `state`'s newest completed key epoch, if that epoch changed
    /// since the last call and it holds one (an error is logged once per epoch).
    pub fn new_issuing_key(&mut self, state: &ChainState) -> Option<IssuingKey> {
        let (run, _) = state.key_epochs().current()?;
        if self.derived == Some(run.id) {
            return None;
        }
        self.derived = Some(run.id);
        match self.key_pair(state, run.id) {
            Ok(pair) => {
                tracing::info!(
                    key_epoch = %run.id,
                    index = pair.index(),
                    "this validator's share matches the chain's key set; it issues under this key epoch"
                );
                Some(IssuingKey {
                    key_epoch: run.id,
                    pair: std::sync::Arc::new(pair),
                })
            }
            Err(e) => {
                tracing::error!(key_epoch = %run.id, error = %e, "this validator holds no share of the chain's key set and cannot issue");
                None
            }
        }
    }

    /// After `state` was committed: logs progress and returns the message to submit, if one
    /// is owed.
    pub fn after_commit(&mut self, state: &ChainState) -> Option<Transaction> {
        self.log_progress(state);
        let run = state.key_epochs().running()?;
        let height = state.height();
        if let Some((id, phase, at)) = self.sent {
            if id == run.id && phase == run.phase && height < at.saturating_add(RESEND_AFTER_BLOCKS)
            {
                return None;
            }
        }
        let genesis = state.params().genesis();
        let genesis_hash = state.genesis_hash();
        match self
            .participant
            .message(genesis, &genesis_hash, run, &mut rand::rng())
        {
            Ok(Some(message)) => {
                self.sent = Some((run.id, run.phase, height));
                let message = if self.bad_share {
                    corrupt_dealing(message, &genesis_hash, &self.participant)
                } else {
                    message
                };
                Some(Transaction::Dkg(Box::new(message)))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(key_epoch = %run.id, phase = run.phase.name(), error = %e, "cannot take part in the key generation");
                None
            }
        }
    }

    fn log_progress(&mut self, state: &ChainState) {
        let Some(newest) = state.key_epochs().runs().next_back() else {
            return;
        };
        let now = (newest.id, newest.phase);
        if self.seen == Some(now) {
            return;
        }
        self.seen = Some(now);
        match newest.phase {
            Phase::Complete => tracing::info!(
                key_epoch = %newest.id,
                excluded = ?newest.keys_out.as_ref().map(|k| &k.excluded),
                "key generation complete"
            ),
            Phase::Failed => tracing::warn!(
                key_epoch = %newest.id,
                reason = newest.failure.as_deref().unwrap_or(""),
                "key generation failed; the next run starts"
            ),
            phase => {
                tracing::info!(key_epoch = %newest.id, phase = phase.name(), "key generation phase")
            }
        }
    }

    /// This validator's key pair of the completed run `id`.
    pub fn key_pair(&self, state: &ChainState, id: KeyEpochId) -> Result<KeyPair, String> {
        let run = state
            .key_epochs()
            .get(id)
            .ok_or_else(|| format!("key epoch {id} is not kept"))?;
        self.participant
            .key_pair(state.params().genesis(), &state.genesis_hash(), run)
    }
}

/// The test double's dealing: the share of the next participant altered, re-signed.
fn corrupt_dealing(
    message: DkgMessage,
    genesis_hash: &validator_core::genesis::GenesisHash,
    participant: &Participant,
) -> DkgMessage {
    let DkgBody::Dealing(dealing) = &message.body else {
        return message;
    };
    let n = dealing.ciphertexts().len();
    let victim = usize::try_from(dealing.dealer()).unwrap_or(0) % n.max(1);
    let mut bytes = dealing.to_bytes();
    // Receiver `victim + 1`'s ciphertext: the ciphertexts are the encoding's last bytes.
    let len = dealing.ciphertexts().first().map_or(0, Vec::len);
    let at = bytes.len().saturating_sub((n - victim) * len);
    if let Some(b) = bytes.get_mut(at) {
        *b ^= 1;
    }
    match validator_core::coconut::dkg::Dealing::try_from_bytes(&bytes) {
        Ok(bad) => {
            tracing::warn!(victim = victim + 1, "TEST DOUBLE: dealing a bad share");
            participant.sign(
                genesis_hash,
                message.key_epoch,
                DkgBody::Dealing(Box::new(bad)),
            )
        }
        Err(_) => message,
    }
}
