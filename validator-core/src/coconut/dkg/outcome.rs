//! The result of a run: who qualified, the combined commitments, every participant's public
//! verification key and a receiver's own key pair (GJKR steps 2 and 4(c)).
//!
//! With `A_{s,k} = Π_{i ∈ QUAL} A^{(i)}_{s,k}` (the products of the qualified dealers' final
//! openings, published or reconstructed), the master polynomials are `F_s = Σ_{i ∈ QUAL} f_s^{(i)}`
//! and the partial key of any index `j` is public:
//! `alpha_j = Π_k A2_{0,k}^{j^k} = g2^{F_0(j)}`, `beta_g2_{j,s} = Π_k A2_{s,k}^{j^k}`,
//! `beta_g1_{j,s} = Π_k A1_{s,k}^{j^k}`. The aggregate key is the `k = 0` terms, `g^{F_s(0)}`.
//! Receiver `j`'s secret key is `F_s(j) = Σ_{i ∈ QUAL} f^{(i)}_s(j)`, the sum of its shares.

use std::collections::BTreeMap;

use bls12_381::{G1Projective, G2Projective, Scalar};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::dealing::{verify_complaint, ComplaintVerdict, Dealing};
use super::encryption::Disclosure;
use super::error::DkgError;
use super::params::DkgParams;
use super::polynomials::{evaluate_g1, evaluate_g2};
use super::shares::Shares;
use crate::coconut::{KeyPair, SecretKey, SignerIndex, VerificationKey};
use crate::credential::{IndexedVerificationKey, VerificationKeySet};

/// Why a dealer is not in QUAL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExclusionReason {
    /// It published no dealing.
    NoDealing,
    /// Its dealing fails the public checks (the reason says which).
    BadDealing(String),
    /// A complaint against it was upheld.
    ComplaintUpheld {
        /// The receiver whose complaint was upheld (the first, in transcript order).
        by: SignerIndex,
    },
}

/// A dealer left out of QUAL, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The dealer.
    pub dealer: SignerIndex,
    /// Why.
    pub reason: ExclusionReason,
}

/// The outcome of phase 1: QUAL and the excluded dealers, both in index order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Qualification {
    /// QUAL: dealers with a valid dealing and no upheld complaint.
    pub qualified: Vec<SignerIndex>,
    /// Everyone else.
    pub excluded: Vec<Exclusion>,
}

/// Computes QUAL from the phase-1 transcript: every dealing and every complaint.
///
/// A dealer without a dealing, with a dealing that fails [`Dealing::check_public`], or with an
/// upheld complaint is excluded; rejected (false) complaints exclude nobody. Refuses two
/// dealings from one dealer, a dealing or complaint naming a dealer outside `1..=n`, two
/// complaints by one receiver against one dealer, and an invalid complaint against a dealer
/// with a valid dealing (the chain should have refused it). Complaints against dealers that
/// are excluded anyway are not examined.
pub fn qualify(
    params: &DkgParams,
    dealings: &[Dealing],
    complaints: &[Disclosure],
) -> Result<Qualification, DkgError> {
    let mut by_dealer: BTreeMap<SignerIndex, &Dealing> = BTreeMap::new();
    for dealing in dealings {
        params.check_dealer(dealing.dealer)?;
        if by_dealer.insert(dealing.dealer, dealing).is_some() {
            return Err(DkgError::DuplicateDealing {
                dealer: dealing.dealer,
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for complaint in complaints {
        params.check_dealer(complaint.dealer)?;
        if !seen.insert((complaint.dealer, complaint.receiver)) {
            return Err(DkgError::DuplicateDisclosure {
                dealer: complaint.dealer,
                receiver: complaint.receiver,
            });
        }
    }

    let mut qualification = Qualification::default();
    for dealer in 1..=params.participants() {
        let reason = match by_dealer.get(&dealer) {
            None => Some(ExclusionReason::NoDealing),
            Some(dealing) => match dealing.check_public(params) {
                Err(e) => Some(ExclusionReason::BadDealing(e.to_string())),
                Ok(()) => first_upheld_complaint(params, dealing, complaints)?
                    .map(|by| ExclusionReason::ComplaintUpheld { by }),
            },
        };
        match reason {
            None => qualification.qualified.push(dealer),
            Some(reason) => qualification.excluded.push(Exclusion { dealer, reason }),
        }
    }
    Ok(qualification)
}

/// The first receiver whose complaint against `dealing` is upheld.
fn first_upheld_complaint(
    params: &DkgParams,
    dealing: &Dealing,
    complaints: &[Disclosure],
) -> Result<Option<SignerIndex>, DkgError> {
    for complaint in complaints.iter().filter(|c| c.dealer == dealing.dealer) {
        let verdict = verify_complaint(params, dealing, complaint).map_err(|e| {
            DkgError::InvalidComplaint {
                dealer: complaint.dealer,
                receiver: complaint.receiver,
                reason: e.to_string(),
            }
        })?;
        if verdict == ComplaintVerdict::Upheld {
            return Ok(Some(complaint.receiver));
        }
    }
    Ok(None)
}

/// The public result of a run: QUAL, the exclusions and the combined commitments, from which
/// every participant's verification key follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkgOutcome {
    threshold: u64,
    participants: u64,
    qualification: Qualification,
    /// `Π_i g2^{a^{(i)}_{0,k}}`.
    x: Vec<G2Projective>,
    /// `Π_i g2^{a^{(i)}_{s,k}}`, `s = 1..=q`.
    ys_g2: Vec<Vec<G2Projective>>,
    /// `Π_i g1^{a^{(i)}_{s,k}}`, `s = 1..=q`.
    ys_g1: Vec<Vec<G1Projective>>,
}

/// Combines the final openings (published or reconstructed) of exactly the qualified dealers.
///
/// Refuses an opening of a dealer outside QUAL, two openings of one dealer, a missing one, or
/// one failing [`super::Opening::check_public`].
pub fn compute_outcome(
    params: &DkgParams,
    qualification: &Qualification,
    openings: &[super::Opening],
) -> Result<DkgOutcome, DkgError> {
    if qualification.qualified.is_empty() {
        return Err(DkgError::EmptyQualifiedSet);
    }
    let mut by_dealer = BTreeMap::new();
    for opening in openings {
        if !qualification.qualified.contains(&opening.dealer) {
            return Err(DkgError::NotQualified {
                dealer: opening.dealer,
            });
        }
        if by_dealer.insert(opening.dealer, opening).is_some() {
            return Err(DkgError::DuplicateOpening {
                dealer: opening.dealer,
            });
        }
    }
    let t = params.coefficients();
    let q = params.num_attributes();
    let mut x = vec![G2Projective::identity(); t];
    let mut ys_g2 = vec![vec![G2Projective::identity(); t]; q];
    let mut ys_g1 = vec![vec![G1Projective::identity(); t]; q];
    for dealer in &qualification.qualified {
        let opening = by_dealer
            .get(dealer)
            .ok_or(DkgError::MissingOpening { dealer: *dealer })?;
        opening.check_public(params)?;
        add_rows(
            core::slice::from_mut(&mut x),
            core::slice::from_ref(&opening.x),
        );
        add_rows(&mut ys_g2, &opening.ys_g2);
        add_rows(&mut ys_g1, &opening.ys_g1);
    }
    Ok(DkgOutcome {
        threshold: params.threshold(),
        participants: params.participants(),
        qualification: qualification.clone(),
        x,
        ys_g2,
        ys_g1,
    })
}

fn add_rows<T: Copy + core::ops::AddAssign>(sums: &mut [Vec<T>], rows: &[Vec<T>]) {
    for (sum, row) in sums.iter_mut().zip(rows) {
        for (s, value) in sum.iter_mut().zip(row) {
            *s += *value;
        }
    }
}

impl DkgOutcome {
    /// `t`.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// QUAL, in index order.
    pub fn qualified(&self) -> &[SignerIndex] {
        &self.qualification.qualified
    }

    /// The excluded dealers and why, in index order.
    pub fn excluded(&self) -> &[Exclusion] {
        &self.qualification.excluded
    }

    /// The partial verification key of index `j`: `g^{F_s(j)}`, computed from public data.
    /// Index 0 gives the aggregate key.
    pub fn partial_verification_key(&self, index: SignerIndex) -> VerificationKey {
        VerificationKey {
            alpha: evaluate_g2(&self.x, index),
            beta_g1: self.ys_g1.iter().map(|r| evaluate_g1(r, index)).collect(),
            beta_g2: self.ys_g2.iter().map(|r| evaluate_g2(r, index)).collect(),
        }
    }

    /// The aggregate (master) verification key, `g^{F_s(0)}`.
    pub fn aggregate_verification_key(&self) -> VerificationKey {
        fn first<T: Copy + Default>(row: &[T]) -> T {
            row.first().copied().unwrap_or_default()
        }
        VerificationKey {
            alpha: first(&self.x),
            beta_g1: self.ys_g1.iter().map(|row| first(row)).collect(),
            beta_g2: self.ys_g2.iter().map(|row| first(row)).collect(),
        }
    }

    /// The key set validators publish: threshold, the partial key of every participant
    /// `1..=n`, and the aggregate; checked with [`VerificationKeySet::validate`].
    pub fn verification_key_set(&self) -> Result<VerificationKeySet, DkgError> {
        let set = VerificationKeySet {
            key_epoch: Default::default(),
            threshold: self.threshold,
            authorities: (1..=self.participants)
                .map(|index| IndexedVerificationKey {
                    index,
                    verification_key: self.partial_verification_key(index),
                })
                .collect(),
            aggregate: self.aggregate_verification_key(),
        };
        set.validate()?;
        Ok(set)
    }
}

/// Receiver `receiver`'s key pair: the sum of its (checked) shares from every qualified dealer.
///
/// `shares` must hold, for every dealer in QUAL, the shares [`super::receive`] returned
/// (shares from other dealers are ignored). The derived key is checked against the publicly
/// computed [`DkgOutcome::partial_verification_key`].
pub fn derive_key_pair(
    params: &DkgParams,
    outcome: &DkgOutcome,
    receiver: SignerIndex,
    shares: &[Shares],
) -> Result<KeyPair, DkgError> {
    params.receiver(receiver)?;
    let mut by_dealer: BTreeMap<SignerIndex, &Shares> = BTreeMap::new();
    for share in shares {
        if share.receiver != receiver {
            return Err(DkgError::ReceiverMismatch {
                expected: receiver,
                actual: share.receiver,
            });
        }
        if share.values.len() != params.num_secrets() {
            return Err(DkgError::WrongShape {
                dealer: share.dealer,
                what: "shares",
                expected: params.num_secrets(),
                actual: share.values.len(),
            });
        }
        if by_dealer.insert(share.dealer, share).is_some() {
            return Err(DkgError::DuplicateDisclosure {
                dealer: share.dealer,
                receiver,
            });
        }
    }
    let mut sums = Zeroizing::new(vec![Scalar::zero(); params.num_secrets()]);
    for dealer in outcome.qualified() {
        let share = by_dealer.get(dealer).ok_or(DkgError::MissingShares {
            dealer: *dealer,
            receiver,
        })?;
        for (sum, value) in sums.iter_mut().zip(&share.values) {
            *sum += value;
        }
    }
    let (x, ys) = sums.split_first().ok_or(DkgError::ZeroAttributes)?;
    let secret_key = SecretKey {
        x: *x,
        ys: ys.to_vec(),
    };
    let g1 = G1Projective::generator();
    let g2 = G2Projective::generator();
    let verification_key = VerificationKey {
        alpha: g2 * secret_key.x,
        beta_g1: secret_key.ys.iter().map(|y| g1 * y).collect(),
        beta_g2: secret_key.ys.iter().map(|y| g2 * y).collect(),
    };
    if verification_key != outcome.partial_verification_key(receiver) {
        return Err(DkgError::KeyMismatch { receiver });
    }
    Ok(KeyPair::new(receiver, secret_key, verification_key))
}
