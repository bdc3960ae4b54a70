//! [`DkgTranscript`]: the public transactions of one run, fed in chain order, phase by phase.
//!
//! | phase | accepts | leaving it |
//! | --- | --- | --- |
//! | [`DkgPhase::Dealing`] | one [`Dealing`] per dealer, publicly valid | |
//! | [`DkgPhase::Complaints`] | one complaint ([`Disclosure`]) per receiver and dealer | QUAL is fixed |
//! | [`DkgPhase::Opening`] | one [`Opening`] per qualified dealer, and opening complaints | |
//! | [`DkgPhase::Reconstruction`] | disclosures for dealers that did not open correctly | [`DkgTranscript::finish`] |
//!
//! Every accepted item is stored as it came (they are wire types with serde), so the
//! transcript can be snapshotted with the chain state and replayed. Items of the wrong phase,
//! duplicates and invalid items are refused with a [`DkgError`] and change nothing.

use serde::{Deserialize, Serialize};

use super::dealing::{verify_complaint, ComplaintVerdict, Dealing};
use super::encryption::{verify_disclosure, Disclosure};
use super::error::DkgError;
use super::opening::{reconstruct_opening, verify_opening_complaint, Opening};
use super::outcome::{compute_outcome, DkgOutcome, Exclusion, ExclusionReason, Qualification};
use super::params::DkgParams;
use crate::coconut::SignerIndex;

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DkgPhase {
    /// Dealers publish dealings.
    Dealing,
    /// Receivers complain about bad shares.
    Complaints,
    /// Qualified dealers publish openings; receivers complain about inconsistent ones.
    Opening,
    /// Receivers disclose their shares of dealers that must be reconstructed.
    Reconstruction,
}

/// A complaint the transcript accepted, with its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgedComplaint {
    /// The complaint.
    pub complaint: Disclosure,
    /// Its verdict.
    pub verdict: ComplaintVerdict,
}

/// The public transcript of one DKG run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgTranscript {
    params: DkgParams,
    phase: DkgPhase,
    dealings: Vec<Dealing>,
    complaints: Vec<JudgedComplaint>,
    qualification: Option<Qualification>,
    openings: Vec<Opening>,
    opening_complaints: Vec<JudgedComplaint>,
    reconstruction: Vec<Disclosure>,
}

impl DkgTranscript {
    /// An empty transcript in the dealing phase.
    pub fn new(params: DkgParams) -> Self {
        DkgTranscript {
            params,
            phase: DkgPhase::Dealing,
            dealings: Vec::new(),
            complaints: Vec::new(),
            qualification: None,
            openings: Vec::new(),
            opening_complaints: Vec::new(),
            reconstruction: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &DkgParams {
        &self.params
    }

    /// The current phase.
    pub fn phase(&self) -> DkgPhase {
        self.phase
    }

    /// The accepted dealings.
    pub fn dealings(&self) -> &[Dealing] {
        &self.dealings
    }

    /// Dealer `dealer`'s accepted dealing.
    pub fn dealing(&self, dealer: SignerIndex) -> Option<&Dealing> {
        self.dealings.iter().find(|d| d.dealer == dealer)
    }

    /// The accepted complaints with their verdicts.
    pub fn complaints(&self) -> &[JudgedComplaint] {
        &self.complaints
    }

    /// QUAL and the exclusions, once the complaint phase is over.
    pub fn qualification(&self) -> Option<&Qualification> {
        self.qualification.as_ref()
    }

    /// The accepted openings.
    pub fn openings(&self) -> &[Opening] {
        &self.openings
    }

    /// The accepted opening complaints with their verdicts.
    pub fn opening_complaints(&self) -> &[JudgedComplaint] {
        &self.opening_complaints
    }

    fn expect_phase(&self, item: &'static str, expected: DkgPhase) -> Result<(), DkgError> {
        if self.phase == expected {
            Ok(())
        } else {
            Err(DkgError::WrongPhase {
                item,
                expected,
                actual: self.phase,
            })
        }
    }

    fn qualified(&self) -> &[SignerIndex] {
        self.qualification
            .as_ref()
            .map_or(&[][..], |q| q.qualified.as_slice())
    }

    fn qualified_dealing(&self, dealer: SignerIndex) -> Result<&Dealing, DkgError> {
        if !self.qualified().contains(&dealer) {
            return Err(DkgError::NotQualified { dealer });
        }
        self.dealing(dealer).ok_or(DkgError::NoDealing { dealer })
    }

    /// Accepts a dealing: publicly valid, from a dealer without one yet.
    pub fn add_dealing(&mut self, dealing: Dealing) -> Result<(), DkgError> {
        self.expect_phase("a dealing", DkgPhase::Dealing)?;
        dealing.check_public(&self.params)?;
        if self.dealing(dealing.dealer).is_some() {
            return Err(DkgError::DuplicateDealing {
                dealer: dealing.dealer,
            });
        }
        self.dealings.push(dealing);
        Ok(())
    }

    /// Accepts a complaint against a dealer with a dealing, one per receiver and dealer, if
    /// its disclosure is valid; returns its verdict.
    pub fn add_complaint(&mut self, complaint: Disclosure) -> Result<ComplaintVerdict, DkgError> {
        self.expect_phase("a complaint", DkgPhase::Complaints)?;
        if self.complaints.iter().any(|c| {
            c.complaint.dealer == complaint.dealer && c.complaint.receiver == complaint.receiver
        }) {
            return Err(DkgError::DuplicateDisclosure {
                dealer: complaint.dealer,
                receiver: complaint.receiver,
            });
        }
        let dealing = self.dealing(complaint.dealer).ok_or(DkgError::NoDealing {
            dealer: complaint.dealer,
        })?;
        let verdict = verify_complaint(&self.params, dealing, &complaint)?;
        self.complaints.push(JudgedComplaint { complaint, verdict });
        Ok(verdict)
    }

    /// Accepts a qualified dealer's first opening, if publicly valid.
    pub fn add_opening(&mut self, opening: Opening) -> Result<(), DkgError> {
        self.expect_phase("an opening", DkgPhase::Opening)?;
        self.qualified_dealing(opening.dealer)?;
        if self.openings.iter().any(|o| o.dealer == opening.dealer) {
            return Err(DkgError::DuplicateOpening {
                dealer: opening.dealer,
            });
        }
        opening.check_public(&self.params)?;
        self.openings.push(opening);
        Ok(())
    }

    /// Accepts a complaint against a published opening, one per receiver and dealer, if its
    /// disclosure is valid; returns its verdict.
    pub fn add_opening_complaint(
        &mut self,
        complaint: Disclosure,
    ) -> Result<ComplaintVerdict, DkgError> {
        self.expect_phase("an opening complaint", DkgPhase::Opening)?;
        let dealer = complaint.dealer;
        let dealing = self.qualified_dealing(dealer)?;
        let opening = self
            .openings
            .iter()
            .find(|o| o.dealer == dealer)
            .ok_or(DkgError::NoOpening { dealer })?;
        if self
            .opening_complaints
            .iter()
            .any(|c| c.complaint.dealer == dealer && c.complaint.receiver == complaint.receiver)
        {
            return Err(DkgError::DuplicateDisclosure {
                dealer,
                receiver: complaint.receiver,
            });
        }
        let verdict = verify_opening_complaint(&self.params, dealing, opening, &complaint)?;
        self.opening_complaints
            .push(JudgedComplaint { complaint, verdict });
        Ok(verdict)
    }

    /// The qualified dealers whose polynomials must be reconstructed: no opening, or an
    /// upheld opening complaint. Final once the opening phase is over.
    pub fn needs_reconstruction(&self) -> Vec<SignerIndex> {
        self.qualified()
            .iter()
            .copied()
            .filter(|dealer| {
                let opened = self.openings.iter().any(|o| o.dealer == *dealer);
                let upheld = self.opening_complaints.iter().any(|c| {
                    c.complaint.dealer == *dealer && c.verdict == ComplaintVerdict::Upheld
                });
                !opened || upheld
            })
            .collect()
    }

    /// Accepts a receiver's disclosure for a dealer that needs reconstruction, one per
    /// receiver and dealer, if valid and its shares pass the dealer's commitments.
    pub fn add_reconstruction_disclosure(
        &mut self,
        disclosure: Disclosure,
    ) -> Result<(), DkgError> {
        self.expect_phase("a reconstruction disclosure", DkgPhase::Reconstruction)?;
        let dealer = disclosure.dealer;
        if !self.needs_reconstruction().contains(&dealer) {
            return Err(DkgError::NoReconstructionNeeded { dealer });
        }
        if self
            .reconstruction
            .iter()
            .any(|d| d.dealer == dealer && d.receiver == disclosure.receiver)
        {
            return Err(DkgError::DuplicateDisclosure {
                dealer,
                receiver: disclosure.receiver,
            });
        }
        let dealing = self.qualified_dealing(dealer)?;
        let shares = verify_disclosure(&self.params, dealing, &disclosure)?;
        if let Some(secret) = dealing.pedersen_failure(&shares) {
            return Err(DkgError::SharesFailCommitments {
                dealer,
                receiver: disclosure.receiver,
                secret,
            });
        }
        self.reconstruction.push(disclosure);
        Ok(())
    }

    /// Closes the current phase. Leaving the complaint phase fixes QUAL. There is nothing
    /// after [`DkgPhase::Reconstruction`]: call [`DkgTranscript::finish`].
    pub fn advance(&mut self) -> Result<DkgPhase, DkgError> {
        self.phase = match self.phase {
            DkgPhase::Dealing => DkgPhase::Complaints,
            DkgPhase::Complaints => {
                self.qualification = Some(self.qualify());
                DkgPhase::Opening
            }
            DkgPhase::Opening => DkgPhase::Reconstruction,
            DkgPhase::Reconstruction => {
                return Err(DkgError::WrongPhase {
                    item: "advancing",
                    expected: DkgPhase::Opening,
                    actual: DkgPhase::Reconstruction,
                })
            }
        };
        Ok(self.phase)
    }

    /// QUAL from the accepted dealings and judged complaints.
    fn qualify(&self) -> Qualification {
        let mut qualification = Qualification::default();
        for dealer in 1..=self.params.participants() {
            let upheld = self
                .complaints
                .iter()
                .find(|c| c.complaint.dealer == dealer && c.verdict == ComplaintVerdict::Upheld);
            let reason = match (self.dealing(dealer), upheld) {
                (None, _) => Some(ExclusionReason::NoDealing),
                (Some(_), Some(c)) => Some(ExclusionReason::ComplaintUpheld {
                    by: c.complaint.receiver,
                }),
                (Some(_), None) => None,
            };
            match reason {
                None => qualification.qualified.push(dealer),
                Some(reason) => qualification.excluded.push(Exclusion { dealer, reason }),
            }
        }
        qualification
    }

    /// The outcome, in the reconstruction phase: every qualified dealer's published opening,
    /// or the one reconstructed from the disclosures for it (at least `t` are needed).
    pub fn finish(&self) -> Result<DkgOutcome, DkgError> {
        self.expect_phase("finishing", DkgPhase::Reconstruction)?;
        let qualification = self
            .qualification
            .as_ref()
            .ok_or(DkgError::EmptyQualifiedSet)?;
        let reconstruct = self.needs_reconstruction();
        let mut openings = Vec::with_capacity(qualification.qualified.len());
        for dealer in &qualification.qualified {
            if reconstruct.contains(dealer) {
                let disclosures: Vec<Disclosure> = self
                    .reconstruction
                    .iter()
                    .filter(|d| d.dealer == *dealer)
                    .cloned()
                    .collect();
                let dealing = self.qualified_dealing(*dealer)?;
                openings.push(reconstruct_opening(&self.params, dealing, &disclosures)?);
            } else if let Some(opening) = self.openings.iter().find(|o| o.dealer == *dealer) {
                openings.push(opening.clone());
            }
        }
        compute_outcome(&self.params, qualification, &openings)
    }
}
