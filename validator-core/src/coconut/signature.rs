//! Credentials (signatures) and their pairing check: Coconut `Verify` on plain attributes
//! (Sonnino et al., NDSS 2019, §III-B, the Pointcheval-Sanders-style scheme Coconut builds on).
//!
//! A signature on attributes `m_1..m_q` is `(h, s) = (h, h^{x + Σ y_j m_j})`; it verifies when
//! `h ≠ 1` and `e(h, alpha · Π beta_g2_j^{m_j}) = e(s, g2)`.

use bls12_381::Scalar;
use bls12_381::{multi_miller_loop, G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective};
use group::Group;

use super::error::{CoconutError, Result};
use super::keygen::VerificationKey;
use super::params::Parameters;

/// A (partial, aggregated or randomised) credential signature `(h, s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub(crate) h: G1Projective,
    pub(crate) s: G1Projective,
}

/// A signature still blinded by the user's Pedersen openings: `(h, c)` with
/// `c = h^{x + Σ_public y_k m_k} · Π_private c_j^{y_j}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlindedSignature {
    pub(crate) h: G1Projective,
    pub(crate) c: G1Projective,
}

impl Signature {
    /// The credential base `h`.
    pub fn h(&self) -> &G1Projective {
        &self.h
    }

    /// The signature element `s = h^{x + Σ y_j m_j}`.
    pub fn s(&self) -> &G1Projective {
        &self.s
    }

    /// Verifies the signature on all attributes in clear (private ones first, then public, in
    /// the order they were issued) under `verification_key`.
    pub fn verify(
        &self,
        params: &Parameters,
        verification_key: &VerificationKey,
        attributes: &[Scalar],
    ) -> Result<()> {
        verification_key.check_attribute_count(attributes.len())?;
        let kappa = verification_key.alpha
            + verification_key
                .beta_g2
                .iter()
                .zip(attributes)
                .map(|(beta, m)| beta * m)
                .sum::<G2Projective>();
        check_pairing(params, &self.h, &self.s, &kappa)
    }
}

impl BlindedSignature {
    /// The credential base `h` (equal to the request's commitment hash).
    pub fn h(&self) -> &G1Projective {
        &self.h
    }

    /// The blinded signature element.
    pub fn c(&self) -> &G1Projective {
        &self.c
    }
}

/// Checks `e(h, k) · e(-s, g2) = 1` with one multi-Miller loop and one final exponentiation,
/// rejecting `h = 1` (which would make any `s = 1` verify).
pub(crate) fn check_pairing(
    params: &Parameters,
    h: &G1Projective,
    s: &G1Projective,
    k: &G2Projective,
) -> Result<()> {
    if bool::from(h.is_identity()) {
        return Err(CoconutError::IdentitySignature);
    }
    let h = G1Affine::from(h);
    let minus_s = G1Affine::from(-s);
    let k = G2Prepared::from(G2Affine::from(k));
    let result =
        multi_miller_loop(&[(&h, &k), (&minus_s, params.gen2_prepared())]).final_exponentiation();
    if bool::from(result.is_identity()) {
        Ok(())
    } else {
        Err(CoconutError::SignatureVerificationFailed)
    }
}
