//! Phase 2: extracting the public key (GJKR step 4).
//!
//! Once QUAL is fixed, every qualified dealer `i` publishes an [`Opening`]: its polynomials
//! `f_s` "in the exponent", `A2_{s,k} = g2^{a_{s,k}}` for every secret and, because Coconut
//! keys carry `beta_g1 = g1^y`, also `A1_{s,k} = g1^{a_{s,k}}` for the `y`s. A pairing check
//! `e(A1_{s,k}, g2) = e(g1, A2_{s,k})`, batched with weights hashed from the opening, ties the
//! copies ([`Opening::check_public`]). Receiver `j` checks `g2^{f_s(j)} = Π_k A2_{s,k}^{j^k}`
//! and otherwise discloses ([`verify_opening_complaint`]).
//!
//! A qualified dealer that does not open, or whose opening complaint is upheld, is not
//! removed: its shares are Pedersen-valid, so `t` disclosed shares determine `f_s` (Pedersen
//! commitments are binding), and [`reconstruct_opening`] interpolates all `t` coefficients of
//! every `f_s` and recomputes the opening.

use bls12_381::{multi_miller_loop, G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective};
use bls12_381::{Gt, Scalar};
use sha2_v010::{Digest, Sha256};
use zeroize::Zeroizing;

use super::dealing::{ComplaintVerdict, Dealing};
use super::domains::DST_OPENING_BATCH;
use super::encryption::{verify_disclosure, Disclosure};
use super::error::DkgError;
use super::params::DkgParams;
use super::polynomials::{evaluate_g2, lagrange_basis, DealerPolynomials};
use super::shares::Shares;
use crate::coconut::hash::hash_to_scalar;
use crate::coconut::vartime::{mul_g1, mul_g2};
use crate::coconut::SignerIndex;

/// A qualified dealer's polynomials in the exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub(crate) dealer: SignerIndex,
    /// `g2^{a_{0,k}}`, the `t` coefficients of `f_0` (for `x`).
    pub(crate) x: Vec<G2Projective>,
    /// `g2^{a_{s,k}}` for `s = 1..=q`.
    pub(crate) ys_g2: Vec<Vec<G2Projective>>,
    /// `g1^{a_{s,k}}` for `s = 1..=q`.
    pub(crate) ys_g1: Vec<Vec<G1Projective>>,
}

impl Opening {
    /// The dealer.
    pub fn dealer(&self) -> SignerIndex {
        self.dealer
    }

    /// `g2^{a_{0,k}}`.
    pub fn x(&self) -> &[G2Projective] {
        &self.x
    }

    /// `g2^{a_{s,k}}` for the `y`s.
    pub fn ys_g2(&self) -> &[Vec<G2Projective>] {
        &self.ys_g2
    }

    /// `g1^{a_{s,k}}` for the `y`s.
    pub fn ys_g1(&self) -> &[Vec<G1Projective>] {
        &self.ys_g1
    }

    /// The G2 commitments of secret `s` (`0` is `x`).
    pub(crate) fn g2_row(&self, s: usize) -> Option<&[G2Projective]> {
        match s.checked_sub(1) {
            None => Some(&self.x),
            Some(y) => self.ys_g2.get(y).map(Vec::as_slice),
        }
    }

    /// The opening of polynomials with coefficients `values[s][k]`.
    fn from_coefficients(dealer: SignerIndex, values: &[Vec<Scalar>]) -> Opening {
        let g1 = G1Projective::generator();
        let g2 = G2Projective::generator();
        let (x, ys) = values
            .split_first()
            .map_or((&[][..], &[][..]), |(x, ys)| (x.as_slice(), ys));
        Opening {
            dealer,
            x: x.iter().map(|a| g2 * a).collect(),
            ys_g2: ys
                .iter()
                .map(|f| f.iter().map(|a| g2 * a).collect())
                .collect(),
            ys_g1: ys
                .iter()
                .map(|f| f.iter().map(|a| g1 * a).collect())
                .collect(),
        }
    }

    /// Checks the dealer index, the shapes (`t` commitments for `x`, `q` rows of `t` in G2 and
    /// in G1) and, with one batched pairing check, that the G1 and G2 commitments to the `y`s
    /// hide the same exponents.
    pub fn check_public(&self, params: &DkgParams) -> Result<(), DkgError> {
        let dealer = self.dealer;
        params.check_dealer(dealer)?;
        let shape = |what, expected, actual| DkgError::check_shape(dealer, what, expected, actual);
        let t = params.coefficients();
        let q = params.num_attributes();
        shape("opening x", t, self.x.len())?;
        shape("opening ys_g2 rows", q, self.ys_g2.len())?;
        shape("opening ys_g1 rows", q, self.ys_g1.len())?;
        for (row_g2, row_g1) in self.ys_g2.iter().zip(&self.ys_g1) {
            shape("opening ys_g2 per secret", t, row_g2.len())?;
            shape("opening ys_g1 per secret", t, row_g1.len())?;
        }

        // Σ ρ_{s,k} A1_{s,k} and Σ ρ_{s,k} A2_{s,k} must pair to the same value, with weights
        // ρ hashed from the whole opening so that the dealer cannot make errors cancel.
        let digest: [u8; 32] = Sha256::digest(self.to_bytes()).into();
        let mut left = G1Projective::identity();
        let mut right = G2Projective::identity();
        for (s, (row_g1, row_g2)) in self.ys_g1.iter().zip(&self.ys_g2).enumerate() {
            for (k, (a1, a2)) in row_g1.iter().zip(row_g2).enumerate() {
                let mut message = Vec::with_capacity(40);
                message.extend_from_slice(&digest);
                message.extend_from_slice(&(s as u32).to_le_bytes());
                message.extend_from_slice(&(k as u32).to_le_bytes());
                let weight = hash_to_scalar(&message, DST_OPENING_BATCH);
                left += mul_g1(a1, &weight);
                right += mul_g2(a2, &weight);
            }
        }
        let minus_g1 = -G1Affine::generator();
        let paired = multi_miller_loop(&[
            (
                &G1Affine::from(left),
                &G2Prepared::from(G2Affine::generator()),
            ),
            (&minus_g1, &G2Prepared::from(G2Affine::from(right))),
        ])
        .final_exponentiation();
        if paired != Gt::identity() {
            return Err(DkgError::InconsistentOpening { dealer });
        }
        Ok(())
    }

    /// Checks receiver `j`'s shares against this opening: `g2^{f_s(j)} = Π_k A2_{s,k}^{j^k}`
    /// for every secret.
    pub fn verify_shares(&self, shares: &Shares) -> Result<(), DkgError> {
        if shares.dealer != self.dealer {
            return Err(DkgError::DealerMismatch {
                expected: self.dealer,
                actual: shares.dealer,
            });
        }
        let g2 = G2Projective::generator();
        for (s, value) in shares.values.iter().enumerate() {
            let matches = self
                .g2_row(s)
                .is_some_and(|row| g2 * value == evaluate_g2(row, shares.receiver));
            if !matches {
                return Err(DkgError::SharesFailOpening {
                    dealer: self.dealer,
                    receiver: shares.receiver,
                    secret: s,
                });
            }
        }
        if shares.values.len() != self.ys_g2.len() + 1 {
            return Err(DkgError::WrongShape {
                dealer: self.dealer,
                what: "shares",
                expected: self.ys_g2.len() + 1,
                actual: shares.values.len(),
            });
        }
        Ok(())
    }
}

/// Dealer `dealer`'s opening, recomputed from its seed (the same seed as its dealing).
pub fn open(params: &DkgParams, dealer: SignerIndex, seed: &[u8; 32]) -> Result<Opening, DkgError> {
    params.check_dealer(dealer)?;
    let polynomials = DealerPolynomials::derive(params, dealer, seed);
    Ok(Opening::from_coefficients(dealer, &polynomials.values))
}

/// Judges an opening complaint: `Err` if the disclosure (or the opening) is invalid,
/// [`ComplaintVerdict::Upheld`] iff the disclosed shares pass the dealing's Pedersen
/// commitments but fail the opening. Shares that fail the commitments should have been
/// complained about in phase 1, so such a complaint is [`ComplaintVerdict::Rejected`].
pub fn verify_opening_complaint(
    params: &DkgParams,
    dealing: &Dealing,
    opening: &Opening,
    complaint: &Disclosure,
) -> Result<ComplaintVerdict, DkgError> {
    dealing.check_public(params)?;
    if opening.dealer != dealing.dealer {
        return Err(DkgError::DealerMismatch {
            expected: dealing.dealer,
            actual: opening.dealer,
        });
    }
    opening.check_public(params)?;
    let shares = verify_disclosure(params, dealing, complaint)?;
    if dealing.pedersen_failure(&shares).is_some() {
        return Ok(ComplaintVerdict::Rejected);
    }
    Ok(match opening.verify_shares(&shares) {
        Ok(()) => ComplaintVerdict::Rejected,
        Err(_) => ComplaintVerdict::Upheld,
    })
}

/// Recomputes a qualified dealer's opening from disclosures of its shares.
///
/// Every disclosure must be for this dealer, valid, from a distinct receiver and reveal
/// shares that pass the dealing's commitments; at least `t` are needed. The `t` with the
/// smallest receiver indices are interpolated (any `t` give the same polynomials).
pub fn reconstruct_opening(
    params: &DkgParams,
    dealing: &Dealing,
    disclosures: &[Disclosure],
) -> Result<Opening, DkgError> {
    dealing.check_public(params)?;
    let dealer = dealing.dealer;
    let mut shares: Vec<Shares> = Vec::with_capacity(disclosures.len());
    for disclosure in disclosures {
        if shares.iter().any(|s| s.receiver == disclosure.receiver) {
            return Err(DkgError::DuplicateDisclosure {
                dealer,
                receiver: disclosure.receiver,
            });
        }
        let disclosed = verify_disclosure(params, dealing, disclosure)?;
        if let Some(secret) = dealing.pedersen_failure(&disclosed) {
            return Err(DkgError::SharesFailCommitments {
                dealer,
                receiver: disclosure.receiver,
                secret,
            });
        }
        shares.push(disclosed);
    }
    let t = params.coefficients();
    if shares.len() < t {
        return Err(DkgError::NotEnoughDisclosures {
            dealer,
            have: shares.len(),
            need: t,
        });
    }
    shares.sort_by_key(|s| s.receiver);
    shares.truncate(t);
    let indices: Vec<SignerIndex> = shares.iter().map(|s| s.receiver).collect();
    let basis = lagrange_basis(&indices).ok_or(DkgError::DuplicateDisclosure {
        dealer,
        receiver: indices.first().copied().unwrap_or_default(),
    })?;
    let coefficients: Zeroizing<Vec<Vec<Scalar>>> = Zeroizing::new(
        (0..params.num_secrets())
            .map(|s| {
                let mut f = vec![Scalar::zero(); t];
                for (share, l) in shares.iter().zip(&basis) {
                    for (c, l_k) in f.iter_mut().zip(l) {
                        *c += share.values[s] * l_k;
                    }
                }
                f
            })
            .collect(),
    );
    Ok(Opening::from_coefficients(dealer, &coefficients))
}
