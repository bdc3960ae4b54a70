//! Phase 1: dealing, receiving and complaints (GJKR steps 1(a)–1(c)).
//!
//! Dealer `i` publishes a [`Dealing`]: the ephemeral `R = g1^r`, the Pedersen commitments
//! `C_{s,k} = g1^{a_{s,k}} h^{b_{s,k}}` to all `q + 1` pairs of polynomials, and one
//! ciphertext per receiver. Receiver `j` decrypts and checks its shares ([`receive`]); if the
//! check fails it publishes a [`Disclosure`], which anyone judges with [`verify_complaint`].

use bls12_381::{G1Projective, Scalar};
use serde::{Deserialize, Serialize};

use super::encryption::{ciphertext_len, decrypt_own, encrypt_shares, verify_disclosure};
use super::encryption::{Disclosure, DkgSecretKey};
use super::error::{DkgError, ShareFault};
use super::params::DkgParams;
use super::polynomials::DealerPolynomials;
use super::shares::{pedersen_h, Shares};
use crate::coconut::SignerIndex;

/// One dealer's public dealing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dealing {
    pub(crate) dealer: SignerIndex,
    /// `R = g1^r`.
    pub(crate) ephemeral: G1Projective,
    /// `commitments[s][k] = C_{s,k}`, `q + 1` rows of `t`.
    pub(crate) commitments: Vec<Vec<G1Projective>>,
    /// `ciphertexts[j - 1]`: receiver `j`'s encrypted shares.
    pub(crate) ciphertexts: Vec<Vec<u8>>,
}

/// The judgement on a complaint whose disclosure is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComplaintVerdict {
    /// The disclosed shares are bad: the accused dealer is at fault.
    Upheld,
    /// The disclosed shares are good: the complaint was false.
    Rejected,
}

impl Dealing {
    /// The dealer `i`.
    pub fn dealer(&self) -> SignerIndex {
        self.dealer
    }

    /// The ephemeral `R = g1^r`.
    pub fn ephemeral(&self) -> &G1Projective {
        &self.ephemeral
    }

    /// The Pedersen commitments `C_{s,k}`, by secret then coefficient.
    pub fn commitments(&self) -> &[Vec<G1Projective>] {
        &self.commitments
    }

    /// The ciphertexts, receiver `j` at position `j - 1`.
    pub fn ciphertexts(&self) -> &[Vec<u8>] {
        &self.ciphertexts
    }

    /// Checks everything that can be checked publicly: the dealer index, that `R` is not the
    /// identity, `q + 1` rows of `t` commitments, and `n` ciphertexts of `64 (q + 1)` bytes.
    pub fn check_public(&self, params: &DkgParams) -> Result<(), DkgError> {
        let dealer = self.dealer;
        params.check_dealer(dealer)?;
        if bool::from(self.ephemeral.is_identity()) {
            return Err(DkgError::IdentityEphemeral { dealer });
        }
        let shape = |what, expected, actual| DkgError::check_shape(dealer, what, expected, actual);
        shape(
            "commitment rows",
            params.num_secrets(),
            self.commitments.len(),
        )?;
        for row in &self.commitments {
            shape("commitments per secret", params.coefficients(), row.len())?;
        }
        shape(
            "ciphertexts",
            params.receivers().len(),
            self.ciphertexts.len(),
        )?;
        for ciphertext in &self.ciphertexts {
            shape("ciphertext bytes", ciphertext_len(params), ciphertext.len())?;
        }
        Ok(())
    }

    /// The first secret whose shares fail the commitments, or `None`.
    pub(crate) fn pedersen_failure(&self, shares: &Shares) -> Option<usize> {
        shares.first_pedersen_failure(&self.commitments, &pedersen_h())
    }
}

/// Dealer `dealer`'s dealing, derived from its 32-byte seed and the parameters.
///
/// The same seed and parameters always give the same dealing, so a dealer need not store it.
/// Different runs must use different contexts (or seeds).
pub fn deal(params: &DkgParams, dealer: SignerIndex, seed: &[u8; 32]) -> Result<Dealing, DkgError> {
    params.check_dealer(dealer)?;
    let polynomials = DealerPolynomials::derive(params, dealer, seed);
    let g1 = G1Projective::generator();
    let h = pedersen_h();
    let commitments = polynomials
        .values
        .iter()
        .zip(&polynomials.blinds)
        .map(|(f, blind)| {
            f.iter()
                .zip(blind)
                .map(|(a, b): (&Scalar, &Scalar)| g1 * a + h * b)
                .collect()
        })
        .collect();
    let ciphertexts = (1..)
        .zip(params.receivers())
        .map(|(receiver, pk)| {
            let shares = polynomials.shares_for(dealer, receiver);
            encrypt_shares(params, &shares, pk, &polynomials.ephemeral)
        })
        .collect();
    Ok(Dealing {
        dealer,
        ephemeral: g1 * polynomials.ephemeral,
        commitments,
        ciphertexts,
    })
}

/// Receiver `receiver` decrypts its shares of `dealing` with its secret key and checks them
/// against the dealer's commitments.
///
/// [`ShareFault::BadShares`] means the receiver should complain by publishing
/// [`super::disclose`]`(params, dealing, receiver, sk, rng)`; [`ShareFault::Refused`] means the
/// inputs themselves were wrong (not this receiver's key, a malformed dealing).
pub fn receive(
    params: &DkgParams,
    dealing: &Dealing,
    receiver: SignerIndex,
    sk: &DkgSecretKey,
) -> Result<Shares, ShareFault> {
    dealing.check_public(params)?;
    let shares = decrypt_own(params, dealing, receiver, sk)?;
    match dealing.pedersen_failure(&shares) {
        None => Ok(shares),
        Some(secret) => Err(ShareFault::BadShares {
            dealer: dealing.dealer,
            receiver,
            secret,
        }),
    }
}

/// Judges a complaint: `Err` if the disclosure is invalid (wrong dealer or receiver, bad
/// proof: the complaint is refused), [`ComplaintVerdict::Upheld`] if the disclosed shares fail
/// the commitments, [`ComplaintVerdict::Rejected`] if they pass.
pub fn verify_complaint(
    params: &DkgParams,
    dealing: &Dealing,
    complaint: &Disclosure,
) -> Result<ComplaintVerdict, DkgError> {
    dealing.check_public(params)?;
    let shares = verify_disclosure(params, dealing, complaint)?;
    Ok(match dealing.pedersen_failure(&shares) {
        Some(_) => ComplaintVerdict::Upheld,
        None => ComplaintVerdict::Rejected,
    })
}
