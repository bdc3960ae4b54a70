//! A dealer's polynomials, derived deterministically from its seed, and the polynomial
//! arithmetic of the DKG.
//!
//! Coefficient `k` of secret `s`'s polynomial `f_s` (blinding `0`) or of its blinding
//! polynomial `f'_s` (blinding `1`) is
//! `hash_to_scalar(seed ‖ context ‖ dealer:u64 ‖ s:u32 ‖ blinding:u8 ‖ k:u32, DST_COEFFICIENT)`
//! and the ephemeral scalar is `hash_to_scalar(seed ‖ context ‖ dealer:u64, DST_EPHEMERAL)`
//! (all integers little endian), so a validator that crashes recomputes its dealing and
//! opening from the seed alone.

use bls12_381::{G1Projective, G2Projective, Scalar};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::domains::{DST_COEFFICIENT, DST_EPHEMERAL};
use super::params::DkgParams;
use super::shares::Shares;
use crate::coconut::hash::hash_to_scalar;
use crate::coconut::vartime::{mul_g1, mul_g2};
use crate::coconut::SignerIndex;

/// Everything secret about one dealing: `f_s`, `f'_s` (coefficients, constant term first) and
/// the ephemeral `r`. Wiped when dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct DealerPolynomials {
    /// `values[s][k] = a_{s,k}`.
    pub(crate) values: Vec<Vec<Scalar>>,
    /// `blinds[s][k] = b_{s,k}`.
    pub(crate) blinds: Vec<Vec<Scalar>>,
    /// The ephemeral encryption scalar `r`.
    pub(crate) ephemeral: Scalar,
}

fn seeded_scalar(seed: &[u8; 32], context: &[u8; 32], suffix: &[u8], dst: &[u8]) -> Scalar {
    let mut message = Zeroizing::new(Vec::with_capacity(64 + suffix.len()));
    message.extend_from_slice(seed);
    message.extend_from_slice(context);
    message.extend_from_slice(suffix);
    hash_to_scalar(&message, dst)
}

impl DealerPolynomials {
    /// The polynomials of `dealer` for `params`, from its seed.
    pub(crate) fn derive(params: &DkgParams, dealer: SignerIndex, seed: &[u8; 32]) -> Self {
        let coefficient = |s: usize, blinding: u8, k: usize| {
            let mut suffix = [0u8; 17];
            suffix[..8].copy_from_slice(&dealer.to_le_bytes());
            suffix[8..12].copy_from_slice(&(s as u32).to_le_bytes());
            suffix[12] = blinding;
            suffix[13..].copy_from_slice(&(k as u32).to_le_bytes());
            seeded_scalar(seed, params.context(), &suffix, DST_COEFFICIENT)
        };
        let polynomials = |blinding: u8| -> Vec<Vec<Scalar>> {
            (0..params.num_secrets())
                .map(|s| {
                    (0..params.coefficients())
                        .map(|k| coefficient(s, blinding, k))
                        .collect()
                })
                .collect()
        };
        DealerPolynomials {
            values: polynomials(0),
            blinds: polynomials(1),
            ephemeral: seeded_scalar(seed, params.context(), &dealer.to_le_bytes(), DST_EPHEMERAL),
        }
    }

    /// Receiver `receiver`'s shares: every `f_s(j)` and `f'_s(j)`.
    pub(crate) fn shares_for(&self, dealer: SignerIndex, receiver: SignerIndex) -> Shares {
        let at = Scalar::from(receiver);
        Shares {
            dealer,
            receiver,
            values: self.values.iter().map(|f| evaluate(f, &at)).collect(),
            blinds: self.blinds.iter().map(|f| evaluate(f, &at)).collect(),
        }
    }
}

/// `Σ_k c_k x^k` (Horner's rule).
pub(crate) fn evaluate(coefficients: &[Scalar], x: &Scalar) -> Scalar {
    coefficients
        .iter()
        .rev()
        .fold(Scalar::zero(), |acc, c| acc * x + c)
}

/// `Π_k C_k^{j^k}` in G1 (written additively: Horner in the exponent). Public inputs only.
pub(crate) fn evaluate_g1(commitments: &[G1Projective], index: SignerIndex) -> G1Projective {
    let x = Scalar::from(index);
    commitments
        .iter()
        .rev()
        .fold(G1Projective::identity(), |acc, c| mul_g1(&acc, &x) + c)
}

/// `Π_k A_k^{j^k}` in G2. Public inputs only.
pub(crate) fn evaluate_g2(commitments: &[G2Projective], index: SignerIndex) -> G2Projective {
    let x = Scalar::from(index);
    commitments
        .iter()
        .rev()
        .fold(G2Projective::identity(), |acc, c| mul_g2(&acc, &x) + c)
}

/// The coefficients (constant term first) of the Lagrange basis polynomials
/// `L_i(z) = Π_{m ≠ i} (z - x_m) / (x_i - x_m)` for distinct non-zero `indices`: the
/// polynomial of degree `< len` through `(x_i, y_i)` is `Σ_i y_i L_i`. Returns `None` if two
/// indices coincide.
pub(crate) fn lagrange_basis(indices: &[SignerIndex]) -> Option<Vec<Vec<Scalar>>> {
    let xs: Vec<Scalar> = indices.iter().map(|i| Scalar::from(*i)).collect();
    // P(z) = Π_m (z - x_m), degree len.
    let mut product = vec![Scalar::one()];
    for x in &xs {
        let mut next = vec![Scalar::zero(); product.len() + 1];
        for (k, c) in product.iter().enumerate() {
            next[k + 1] += c;
            next[k] -= c * x;
        }
        product = next;
    }
    xs.iter()
        .map(|x_i| {
            // P(z) / (z - x_i) by synthetic division, from the top coefficient down.
            let degree = xs.len();
            let mut quotient = vec![Scalar::zero(); degree];
            let mut carry = Scalar::zero();
            for k in (1..=degree).rev() {
                carry = product[k] + carry * x_i;
                quotient[k - 1] = carry;
            }
            let denominator = evaluate(&quotient, x_i);
            let inverse = Option::<Scalar>::from(denominator.invert())?;
            Some(quotient.into_iter().map(|c| c * inverse).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::Field;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn lagrange_basis_recovers_every_coefficient() {
        let mut rng = StdRng::seed_from_u64(11);
        for t in 1..6usize {
            let coefficients: Vec<Scalar> = (0..t).map(|_| Scalar::random(&mut rng)).collect();
            let indices: Vec<SignerIndex> = (0..t as u64).map(|i| 3 * i + 2).collect();
            let basis = lagrange_basis(&indices).unwrap();
            let mut recovered = vec![Scalar::zero(); t];
            for (i, l) in indices.iter().zip(&basis) {
                let y = evaluate(&coefficients, &Scalar::from(*i));
                for (r, c) in recovered.iter_mut().zip(l) {
                    *r += y * c;
                }
            }
            assert_eq!(recovered, coefficients, "t = {t}");
        }
        assert!(lagrange_basis(&[1, 2, 1]).is_none());
    }

    #[test]
    fn evaluation_in_the_exponent_matches_scalars() {
        let mut rng = StdRng::seed_from_u64(12);
        let coefficients: Vec<Scalar> = (0..4).map(|_| Scalar::random(&mut rng)).collect();
        let g1: Vec<G1Projective> = coefficients
            .iter()
            .map(|c| G1Projective::generator() * c)
            .collect();
        let g2: Vec<G2Projective> = coefficients
            .iter()
            .map(|c| G2Projective::generator() * c)
            .collect();
        for j in [1u64, 2, 7] {
            let y = evaluate(&coefficients, &Scalar::from(j));
            assert_eq!(evaluate_g1(&g1, j), G1Projective::generator() * y);
            assert_eq!(evaluate_g2(&g2, j), G2Projective::generator() * y);
        }
        // A hand-checked polynomial: 5 + 3z + 2z^2 at 3 is 5 + 9 + 18 = 32.
        let small = [5u64, 3, 2].map(Scalar::from);
        assert_eq!(evaluate(&small, &Scalar::from(3u64)), Scalar::from(32u64));
    }
}
