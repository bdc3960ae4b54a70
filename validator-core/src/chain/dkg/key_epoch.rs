//! One run of the key generation on the chain: its phases, the rule for each message, and
//! what ends a phase.
//!
//! Every check here is a function of the committed transcript, so every validator decides
//! the same QUAL, the same exclusions and the same key set. The validators' own secrets are
//! not here: each derives its share from this transcript with its own receiver key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::message::{DkgBody, KeyEpochId};
use crate::coconut::dkg::{
    compute_outcome, qualify, reconstruct_opening, verify_complaint, verify_opening_complaint,
    ComplaintVerdict, Dealing, Disclosure, DkgError, DkgOutcome, DkgParams, DkgPublicKey,
    Exclusion, ExclusionReason, Opening, Qualification,
};
use crate::coconut::SignerIndex;
use crate::credential::{VerificationKeySet, NUM_ATTRIBUTES};
use crate::genesis::{DkgSchedule, Genesis, GenesisHash};
use crate::primitives::{sha256, IdentityKey};

/// Domain-separation prefix of a run's context (what every hash of the run is bound to).
pub const DKG_CONTEXT_DOMAIN: &[u8] = b"mixnet-dkg-context-v1";

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Validators register their receiver keys.
    Registration,
    /// Participants deal.
    Dealing,
    /// Receivers complain about bad shares (or say they have none).
    Complaints,
    /// QUAL is fixed; qualified dealers open their commitments.
    Opening,
    /// Receivers complain about openings their shares fail (or say they have none).
    OpeningComplaints,
    /// Receivers disclose their shares of the qualified dealers that did not open correctly.
    Reconstruction,
    /// The key set is decided.
    Complete,
    /// The run cannot complete (fewer than `t` qualified dealers, or a dealer that could
    /// not be reconstructed); the next run starts at once.
    Failed,
}

impl Phase {
    /// The message kind this phase takes.
    fn takes(self, body: &DkgBody) -> bool {
        matches!(
            (self, body),
            (Self::Registration, DkgBody::Register(_))
                | (Self::Dealing, DkgBody::Dealing(_))
                | (Self::Complaints, DkgBody::Complaints(_))
                | (Self::Opening, DkgBody::Opening(_))
                | (Self::OpeningComplaints, DkgBody::OpeningComplaints(_))
                | (Self::Reconstruction, DkgBody::Reveals(_))
        )
    }

    /// A name for logs, errors and the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Dealing => "dealing",
            Self::Complaints => "complaints",
            Self::Opening => "opening",
            Self::OpeningComplaints => "opening_complaints",
            Self::Reconstruction => "reconstruction",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }
}

/// A validator left out of a run's QUAL, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludedDealer {
    /// The validator.
    pub validator: IdentityKey,
    /// Its index in the run (0: it never registered).
    pub index: SignerIndex,
    /// Why.
    pub reason: String,
}

/// What a completed run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEpochKeys {
    /// Every participant's partial key, the threshold and the aggregate key.
    pub key_set: VerificationKeySet,
    /// The participants by index (index `i` is `participants[i - 1]`).
    pub participants: Vec<IdentityKey>,
    /// Validators that are not in QUAL, named with the reason.
    pub excluded: Vec<ExcludedDealer>,
    /// The height of the block that completed the run.
    pub completed_at: u64,
    /// Credentials of this key epoch are refused in blocks above this height (set when the
    /// next run completes).
    pub spendable_until: Option<u64>,
}

/// One run: its transcript so far and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEpoch {
    /// Which run.
    pub id: KeyEpochId,
    /// The height of the block that started it (0: genesis).
    pub started_at: u64,
    /// Its phase.
    pub phase: Phase,
    /// The height at which the phase began.
    pub phase_started_at: u64,
    /// Registered receiver keys.
    pub keys: BTreeMap<IdentityKey, DkgPublicKey>,
    /// The participants once registration ended, in genesis order (index = position + 1).
    pub participants: Vec<IdentityKey>,
    /// Dealings by dealer index.
    pub dealings: BTreeMap<SignerIndex, Dealing>,
    /// Phase 1 complaints by receiver index (an empty list: none).
    pub complaints: BTreeMap<SignerIndex, Vec<Disclosure>>,
    /// QUAL and the exclusions, once the complaint phase ended.
    pub qualification: Option<Qualification>,
    /// Openings by dealer index.
    pub openings: BTreeMap<SignerIndex, Opening>,
    /// Phase 2 complaints by receiver index.
    pub opening_complaints: BTreeMap<SignerIndex, Vec<Disclosure>>,
    /// Qualified dealers whose polynomials must be reconstructed.
    pub reconstruct: Vec<SignerIndex>,
    /// Reconstruction disclosures by receiver index.
    pub reveals: BTreeMap<SignerIndex, Vec<Disclosure>>,
    /// The keys, once complete.
    pub keys_out: Option<KeyEpochKeys>,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
}

/// Why a DKG message is refused.
pub type Refusal = String;

impl KeyEpoch {
    /// A run starting at `height`, taking registrations.
    pub fn new(id: KeyEpochId, height: u64) -> Self {
        Self {
            id,
            started_at: height,
            phase: Phase::Registration,
            phase_started_at: height,
            keys: BTreeMap::new(),
            participants: Vec::new(),
            dealings: BTreeMap::new(),
            complaints: BTreeMap::new(),
            qualification: None,
            openings: BTreeMap::new(),
            opening_complaints: BTreeMap::new(),
            reconstruct: Vec::new(),
            reveals: BTreeMap::new(),
            keys_out: None,
            failure: None,
        }
    }

    /// The run's context: SHA-256 of the domain, the chain and the key epoch.
    pub fn context(genesis_hash: &GenesisHash, id: KeyEpochId) -> [u8; 32] {
        sha256(&[
            DKG_CONTEXT_DOMAIN,
            genesis_hash.as_bytes(),
            &id.0.to_le_bytes(),
        ])
    }

    /// The run's parameters, once registration has ended.
    pub fn params(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
    ) -> Result<DkgParams, DkgError> {
        let receivers = self
            .participants
            .iter()
            .filter_map(|v| self.keys.get(v).copied())
            .collect();
        DkgParams::new(
            u64::from(genesis.threshold),
            receivers,
            Self::context(genesis_hash, self.id),
            NUM_ATTRIBUTES,
        )
    }

    /// `validator`'s index in the run, once registration has ended.
    pub fn index_of(&self, validator: &IdentityKey) -> Option<SignerIndex> {
        self.participants
            .iter()
            .position(|v| v == validator)
            .map(|p| p as SignerIndex + 1)
    }

    /// Whether `validator` has sent its message of the current phase.
    pub fn has_sent(&self, validator: &IdentityKey) -> bool {
        let index = self.index_of(validator);
        let sent = |map: &dyn Fn(SignerIndex) -> bool| index.is_some_and(map);
        match self.phase {
            Phase::Registration => self.keys.contains_key(validator),
            Phase::Dealing => sent(&|i| self.dealings.contains_key(&i)),
            Phase::Complaints => sent(&|i| self.complaints.contains_key(&i)),
            Phase::Opening => sent(&|i| self.openings.contains_key(&i)),
            Phase::OpeningComplaints => sent(&|i| self.opening_complaints.contains_key(&i)),
            Phase::Reconstruction => sent(&|i| self.reveals.contains_key(&i)),
            Phase::Complete | Phase::Failed => true,
        }
    }

    /// Whether `validator` is expected to send a message in the current phase.
    pub fn expects(&self, validator: &IdentityKey) -> bool {
        match self.phase {
            Phase::Registration => true,
            Phase::Opening => self
                .index_of(validator)
                .is_some_and(|i| self.is_qualified(i)),
            Phase::Complete | Phase::Failed => false,
            _ => self.index_of(validator).is_some(),
        }
    }

    fn is_qualified(&self, dealer: SignerIndex) -> bool {
        self.qualification
            .as_ref()
            .is_some_and(|q| q.qualified.contains(&dealer))
    }

    /// Checks `validator`'s message `body` against the run, changing nothing.
    pub fn check(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        validator: &IdentityKey,
        body: &DkgBody,
    ) -> Result<(), Refusal> {
        if !self.phase.takes(body) {
            return Err(format!(
                "a {} is not taken in the {} phase",
                body.name(),
                self.phase.name()
            ));
        }
        if self.has_sent(validator) {
            return Err(format!(
                "{validator} already sent its {} in key epoch {}",
                body.name(),
                self.id
            ));
        }
        if let DkgBody::Register(key) = body {
            if key.is_identity() {
                return Err("the receiver key is the identity point".into());
            }
            if let Some((other, _)) = self.keys.iter().find(|(_, k)| *k == key) {
                return Err(format!("the receiver key is already {other}'s"));
            }
            return Ok(());
        }
        let index = self
            .index_of(validator)
            .ok_or_else(|| format!("{validator} is not a participant of key epoch {}", self.id))?;
        let params = self
            .params(genesis, genesis_hash)
            .map_err(|e| format!("the run's parameters: {e}"))?;
        match body {
            DkgBody::Register(_) => Ok(()),
            DkgBody::Dealing(dealing) => {
                if dealing.dealer() != index {
                    return Err(format!(
                        "the dealing names dealer {}, the sender is {index}",
                        dealing.dealer()
                    ));
                }
                dealing.check_public(&params).map_err(|e| e.to_string())
            }
            DkgBody::Complaints(list) => self.check_disclosures(index, list, |d| {
                let dealing = self
                    .dealings
                    .get(&d.dealer())
                    .ok_or_else(|| format!("dealer {} has no dealing", d.dealer()))?;
                verify_complaint(&params, dealing, d)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
            DkgBody::Opening(opening) => {
                if opening.dealer() != index {
                    return Err(format!(
                        "the opening names dealer {}, the sender is {index}",
                        opening.dealer()
                    ));
                }
                if !self.is_qualified(index) {
                    return Err(format!("dealer {index} is not qualified"));
                }
                opening.check_public(&params).map_err(|e| e.to_string())
            }
            DkgBody::OpeningComplaints(list) => self.check_disclosures(index, list, |d| {
                let (dealing, opening) = self.dealing_and_opening(d.dealer())?;
                verify_opening_complaint(&params, dealing, opening, d)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
            DkgBody::Reveals(list) => self.check_disclosures(index, list, |d| {
                if !self.reconstruct.contains(&d.dealer()) {
                    return Err(format!("dealer {} is not being reconstructed", d.dealer()));
                }
                let dealing = self
                    .dealings
                    .get(&d.dealer())
                    .ok_or_else(|| format!("dealer {} has no dealing", d.dealer()))?;
                // A reveal must disclose shares that pass the commitments: that is what a
                // complaint against the dealing would have been *rejected* for.
                match verify_complaint(&params, dealing, d) {
                    Ok(ComplaintVerdict::Rejected) => Ok(()),
                    Ok(ComplaintVerdict::Upheld) => {
                        Err("the revealed shares fail the dealing's commitments".into())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }),
        }
    }

    fn dealing_and_opening(&self, dealer: SignerIndex) -> Result<(&Dealing, &Opening), Refusal> {
        let dealing = self
            .dealings
            .get(&dealer)
            .ok_or_else(|| format!("dealer {dealer} has no dealing"))?;
        let opening = self
            .openings
            .get(&dealer)
            .ok_or_else(|| format!("dealer {dealer} has not opened"))?;
        Ok((dealing, opening))
    }

    fn check_disclosures(
        &self,
        sender: SignerIndex,
        list: &[Disclosure],
        check: impl Fn(&Disclosure) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        if list.len() > self.participants.len() {
            return Err(format!(
                "{} disclosures, at most one per dealer ({})",
                list.len(),
                self.participants.len()
            ));
        }
        let mut dealers = std::collections::BTreeSet::new();
        for d in list {
            if d.receiver() != sender {
                return Err(format!(
                    "a disclosure of receiver {}, the sender is {sender}",
                    d.receiver()
                ));
            }
            if !dealers.insert(d.dealer()) {
                return Err(format!("two disclosures for dealer {}", d.dealer()));
            }
            check(d).map_err(|e| format!("disclosure for dealer {}: {e}", d.dealer()))?;
        }
        Ok(())
    }

    /// Records a checked message ([`KeyEpoch::check`] passed).
    pub fn record(&mut self, validator: &IdentityKey, body: &DkgBody) {
        let index = self.index_of(validator).unwrap_or(0);
        match body {
            DkgBody::Register(key) => {
                self.keys.insert(*validator, *key);
            }
            DkgBody::Dealing(d) => {
                self.dealings.insert(index, (**d).clone());
            }
            DkgBody::Complaints(list) => {
                self.complaints.insert(index, list.clone());
            }
            DkgBody::Opening(o) => {
                self.openings.insert(index, (**o).clone());
            }
            DkgBody::OpeningComplaints(list) => {
                self.opening_complaints.insert(index, list.clone());
            }
            DkgBody::Reveals(list) => {
                self.reveals.insert(index, list.clone());
            }
        }
    }

    /// Ends the phase if everyone expected has sent, or `schedule.phase_blocks` have passed
    /// since it began (and, for registration, at least `t` validators registered). Called
    /// after each block's transactions; returns whether the phase changed.
    pub fn advance(
        &mut self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        schedule: &DkgSchedule,
        height: u64,
    ) -> bool {
        let late = height >= self.phase_started_at.saturating_add(schedule.phase_blocks);
        let validators: Vec<IdentityKey> =
            genesis.validators.iter().map(|v| v.identity_key).collect();
        let all_sent = validators
            .iter()
            .filter(|v| self.expects(v))
            .all(|v| self.has_sent(v));
        let reconstructed = self.phase == Phase::Reconstruction
            && self.reconstructed_openings(genesis, genesis_hash).is_ok();
        if !(all_sent || late || reconstructed) {
            return false;
        }
        let next = match self.phase {
            Phase::Registration => {
                if self.keys.len() < genesis.threshold() {
                    return false;
                }
                self.participants = validators
                    .into_iter()
                    .filter(|v| self.keys.contains_key(v))
                    .collect();
                Phase::Dealing
            }
            Phase::Dealing => Phase::Complaints,
            Phase::Complaints => self.qualify(genesis, genesis_hash),
            Phase::Opening => Phase::OpeningComplaints,
            Phase::OpeningComplaints => self.judge_openings(genesis, genesis_hash),
            // Complete if the reveals suffice, failed if they cannot any more.
            Phase::Reconstruction => Phase::Complete,
            Phase::Complete | Phase::Failed => return false,
        };
        let next = if next == Phase::Complete {
            self.finish(genesis, genesis_hash, height)
        } else {
            next
        };
        self.phase = next;
        self.phase_started_at = height;
        true
    }

    fn fail(&mut self, reason: String) -> Phase {
        self.failure = Some(reason);
        Phase::Failed
    }

    fn qualify(&mut self, genesis: &Genesis, genesis_hash: &GenesisHash) -> Phase {
        let params = match self.params(genesis, genesis_hash) {
            Ok(p) => p,
            Err(e) => return self.fail(format!("parameters: {e}")),
        };
        let dealings: Vec<Dealing> = self.dealings.values().cloned().collect();
        let complaints: Vec<Disclosure> = self.complaints.values().flatten().cloned().collect();
        match qualify(&params, &dealings, &complaints) {
            Ok(q) if (q.qualified.len() as u64) < params.threshold() => {
                let got = q.qualified.len();
                self.qualification = Some(q);
                self.fail(format!(
                    "{got} dealers qualified, the threshold is {}",
                    params.threshold()
                ))
            }
            Ok(q) => {
                self.qualification = Some(q);
                Phase::Opening
            }
            Err(e) => self.fail(format!("qualification: {e}")),
        }
    }

    /// After the opening complaints: the qualified dealers that did not open or whose
    /// opening a complaint showed wrong must be reconstructed.
    fn judge_openings(&mut self, genesis: &Genesis, genesis_hash: &GenesisHash) -> Phase {
        let params = match self.params(genesis, genesis_hash) {
            Ok(p) => p,
            Err(e) => return self.fail(format!("parameters: {e}")),
        };
        let qualified = self
            .qualification
            .as_ref()
            .map(|q| q.qualified.clone())
            .unwrap_or_default();
        let mut reconstruct = Vec::new();
        for dealer in qualified {
            let Ok((dealing, opening)) = self.dealing_and_opening(dealer) else {
                reconstruct.push(dealer);
                continue;
            };
            let upheld = self
                .opening_complaints
                .values()
                .flatten()
                .filter(|d| d.dealer() == dealer)
                .any(|d| {
                    verify_opening_complaint(&params, dealing, opening, d)
                        == Ok(ComplaintVerdict::Upheld)
                });
            if upheld {
                reconstruct.push(dealer);
            }
        }
        self.reconstruct = reconstruct;
        if self.reconstruct.is_empty() {
            Phase::Complete
        } else {
            Phase::Reconstruction
        }
    }

    /// The openings of the dealers under reconstruction, from the reveals.
    fn reconstructed_openings(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
    ) -> Result<Vec<Opening>, String> {
        let params = self
            .params(genesis, genesis_hash)
            .map_err(|e| e.to_string())?;
        self.reconstruct
            .iter()
            .map(|dealer| {
                let dealing = self
                    .dealings
                    .get(dealer)
                    .ok_or_else(|| format!("dealer {dealer} has no dealing"))?;
                let reveals: Vec<Disclosure> = self
                    .reveals
                    .values()
                    .flatten()
                    .filter(|d| d.dealer() == *dealer)
                    .cloned()
                    .collect();
                reconstruct_opening(&params, dealing, &reveals).map_err(|e| e.to_string())
            })
            .collect()
    }

    /// The run's public outcome from its transcript: QUAL's published openings and the
    /// reconstructed ones combined. Defined once QUAL is fixed and every qualified dealer's
    /// opening is known.
    pub fn outcome(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
    ) -> Result<DkgOutcome, String> {
        let params = self
            .params(genesis, genesis_hash)
            .map_err(|e| e.to_string())?;
        let qualification = self.qualification.as_ref().ok_or("QUAL is not fixed yet")?;
        let mut openings: Vec<Opening> = qualification
            .qualified
            .iter()
            .filter(|d| !self.reconstruct.contains(d))
            .filter_map(|d| self.openings.get(d).cloned())
            .collect();
        openings.extend(self.reconstructed_openings(genesis, genesis_hash)?);
        compute_outcome(&params, qualification, &openings).map_err(|e| e.to_string())
    }

    /// Combines the openings into the key set, or fails the run.
    fn finish(&mut self, genesis: &Genesis, genesis_hash: &GenesisHash, height: u64) -> Phase {
        let result = self.outcome(genesis, genesis_hash).and_then(|outcome| {
            let mut key_set = outcome.verification_key_set().map_err(|e| e.to_string())?;
            key_set.key_epoch = self.id;
            let excluded = self.exclusions(genesis, outcome.excluded());
            Ok(KeyEpochKeys {
                key_set,
                participants: self.participants.clone(),
                excluded,
                completed_at: height,
                spendable_until: None,
            })
        });
        match result {
            Ok(keys) => {
                self.keys_out = Some(keys);
                Phase::Complete
            }
            Err(e) => self.fail(format!("the key set: {e}")),
        }
    }

    fn exclusions(&self, genesis: &Genesis, excluded: &[Exclusion]) -> Vec<ExcludedDealer> {
        let mut out: Vec<ExcludedDealer> = genesis
            .validators
            .iter()
            .filter(|v| !self.keys.contains_key(&v.identity_key))
            .map(|v| ExcludedDealer {
                validator: v.identity_key,
                index: 0,
                reason: "did not register".into(),
            })
            .collect();
        for e in excluded {
            let validator = self
                .participants
                .get(
                    usize::try_from(e.dealer)
                        .unwrap_or(usize::MAX)
                        .wrapping_sub(1),
                )
                .copied();
            if let Some(validator) = validator {
                out.push(ExcludedDealer {
                    validator,
                    index: e.dealer,
                    reason: match &e.reason {
                        ExclusionReason::NoDealing => "dealt nothing".into(),
                        ExclusionReason::BadDealing(why) => format!("bad dealing: {why}"),
                        ExclusionReason::ComplaintUpheld { by } => {
                            format!("a complaint by participant {by} was upheld")
                        }
                    },
                });
            }
        }
        out
    }
}
