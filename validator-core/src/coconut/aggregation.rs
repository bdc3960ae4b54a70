//! Aggregation of partial credentials and verification keys: Coconut `AggCred` and the key
//! aggregation of `TTPKeyGen` (Sonnino et al., NDSS 2019, §IV-A, §III-D).
//!
//! Partial signatures `s_i = h^{x_i + Σ y_{i,j} m_j}` and partial keys `g2^{x_i}`, `g^{y_{i,j}}`
//! are shares of the master values "in the exponent", so Lagrange interpolation at zero over
//! any `t` of them yields `h^{x + Σ y_j m_j}` and `(g2^x, g^{y_j})`. All inputs are public, so
//! the arithmetic is variable time.

use bls12_381::{G1Projective, G2Projective, Scalar};

use super::error::{CoconutError, Result};
use super::keygen::VerificationKey;
use super::lagrange::{lagrange_coefficients_at_zero, SignerIndex};
use super::signature::Signature;
use super::vartime::{mul_g1, mul_g2};

/// Combines partial verification keys `(index, vk_index)` into the aggregate key.
///
/// Rejects empty input, index 0, duplicate indices and keys of different sizes.
pub fn aggregate_verification_keys(
    keys: &[(SignerIndex, VerificationKey)],
) -> Result<VerificationKey> {
    let Some((_, first)) = keys.first() else {
        return Err(CoconutError::EmptyAggregation);
    };
    let size = first.beta_g2.len();
    for (_, key) in keys {
        for actual in [key.beta_g1.len(), key.beta_g2.len()] {
            if actual != size {
                return Err(CoconutError::LengthMismatch {
                    what: "verification key attributes",
                    expected: size,
                    actual,
                });
            }
        }
    }
    let indices: Vec<SignerIndex> = keys.iter().map(|(i, _)| *i).collect();
    let coefficients = lagrange_coefficients_at_zero(&indices)?;

    let weighted = || keys.iter().map(|(_, key)| key).zip(&coefficients);
    let alpha: G2Projective = weighted().map(|(key, l)| mul_g2(&key.alpha, l)).sum();
    let beta_g1 = (0..size)
        .map(|j| {
            weighted()
                .map(|(key, l)| mul_g1(&key.beta_g1[j], l))
                .sum::<G1Projective>()
        })
        .collect();
    let beta_g2 = (0..size)
        .map(|j| {
            weighted()
                .map(|(key, l)| mul_g2(&key.beta_g2[j], l))
                .sum::<G2Projective>()
        })
        .collect();
    Ok(VerificationKey {
        alpha,
        beta_g1,
        beta_g2,
    })
}

/// Combines partial signatures `(index, sigma_index)` on the same `h` into the credential
/// signature.
///
/// Rejects empty input, index 0, duplicate indices, differing `h` and `h = 1`. The result is
/// only valid if at least `t` correct partial signatures were given; verify it (or each partial
/// signature, with [`super::unblind_and_verify`]) before use.
pub fn aggregate_signatures(signatures: &[(SignerIndex, Signature)]) -> Result<Signature> {
    let Some((_, first)) = signatures.first() else {
        return Err(CoconutError::EmptyAggregation);
    };
    let h = first.h;
    if bool::from(h.is_identity()) {
        return Err(CoconutError::IdentitySignature);
    }
    if signatures.iter().any(|(_, signature)| signature.h != h) {
        return Err(CoconutError::MismatchedCommitmentHashes);
    }
    let indices: Vec<SignerIndex> = signatures.iter().map(|(i, _)| *i).collect();
    let coefficients = lagrange_coefficients_at_zero(&indices)?;
    let s = signatures
        .iter()
        .zip(&coefficients)
        .map(|((_, signature), l): (&(SignerIndex, Signature), &Scalar)| mul_g1(&signature.s, l))
        .sum();
    Ok(Signature { h, s })
}
