//! Shamir polynomials and Lagrange interpolation at zero.
//!
//! Coconut's threshold setting (Sonnino et al., NDSS 2019, §III-D "Threshold" and §IV-A
//! `TTPKeyGen` / `AggCred`) shares each secret `s` as `p(i)` for a random polynomial `p` of
//! degree `t - 1` with `p(0) = s`. Any `t` shares recover `p(0)` as `Σ l_i · p(i)` with the
//! Lagrange basis polynomials evaluated at zero,
//! `l_i = Π_{j ≠ i} x_j / (x_j - x_i)`. Because the combination is linear it also works "in the
//! exponent", which is how partial signatures and verification keys are aggregated.

use core::ops::Mul;

use bls12_381::Scalar;
use ff::Field;
use rand_core_v010::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::{CoconutError, Result};

/// Index of a share / an authority. Indices start at 1; 0 is where the secret lives.
pub type SignerIndex = u64;

/// A polynomial over the scalar field with secret coefficients (constant term first).
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Polynomial {
    coefficients: Vec<Scalar>,
}

impl Polynomial {
    /// A uniformly random polynomial of the given degree.
    pub(crate) fn random<R: CryptoRng + ?Sized>(degree: usize, rng: &mut R) -> Self {
        let coefficients = (0..=degree).map(|_| Scalar::random(&mut *rng)).collect();
        Polynomial { coefficients }
    }

    /// Evaluates the polynomial at `x` (Horner's rule).
    pub(crate) fn evaluate(&self, x: &Scalar) -> Scalar {
        self.coefficients
            .iter()
            .rev()
            .fold(Scalar::zero(), |acc, c| acc * x + c)
    }

    /// Evaluates the polynomial at a share index.
    pub(crate) fn evaluate_at_index(&self, index: SignerIndex) -> Scalar {
        self.evaluate(&Scalar::from(index))
    }
}

/// Lagrange basis coefficients at zero for the given distinct, non-zero indices.
///
/// Rejects an empty list, index 0 and duplicate indices.
pub fn lagrange_coefficients_at_zero(indices: &[SignerIndex]) -> Result<Vec<Scalar>> {
    if indices.is_empty() {
        return Err(CoconutError::EmptyAggregation);
    }
    for (position, index) in indices.iter().enumerate() {
        if *index == 0 {
            return Err(CoconutError::ZeroIndex);
        }
        if indices[..position].contains(index) {
            return Err(CoconutError::DuplicateIndex(*index));
        }
    }
    let xs: Vec<Scalar> = indices.iter().map(|i| Scalar::from(*i)).collect();
    xs.iter()
        .enumerate()
        .map(|(i, x_i)| {
            let mut numerator = Scalar::one();
            let mut denominator = Scalar::one();
            for (j, x_j) in xs.iter().enumerate() {
                if i != j {
                    numerator *= x_j;
                    denominator *= x_j - x_i;
                }
            }
            // Distinct u64 indices are distinct field elements, so the denominator is non-zero;
            // report rather than panic should that ever not hold.
            Option::<Scalar>::from(denominator.invert())
                .map(|inverse| numerator * inverse)
                .ok_or(CoconutError::DuplicateIndex(indices[i]))
        })
        .collect()
}

/// Interpolates `f(0)` from shares `(i, f(i))`, where the values may live in any group that can
/// be multiplied by scalars (scalars themselves, G1, G2).
pub fn interpolate_at_zero<T>(shares: &[(SignerIndex, T)]) -> Result<T>
where
    T: Copy + core::iter::Sum + Mul<Scalar, Output = T>,
{
    let indices: Vec<SignerIndex> = shares.iter().map(|(i, _)| *i).collect();
    let coefficients = lagrange_coefficients_at_zero(&indices)?;
    Ok(shares
        .iter()
        .zip(coefficients)
        .map(|((_, value), l)| *value * l)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bls12_381::G1Projective;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// `(threshold, number of shares, seed)` with `threshold <= shares`.
    fn sharing() -> impl Strategy<Value = (usize, u64, u64)> {
        (1usize..=10).prop_flat_map(|t| (Just(t), (t as u64)..=12, any::<u64>()))
    }

    fn pick_indices(n: u64, count: usize, rng: &mut StdRng) -> Vec<SignerIndex> {
        use rand::seq::SliceRandom;
        let mut all: Vec<SignerIndex> = (1..=n).collect();
        all.shuffle(rng);
        all.truncate(count);
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_t_points_recover_p0((t, n, seed) in sharing()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let poly = Polynomial::random(t - 1, &mut rng);
            let secret = poly.evaluate(&Scalar::zero());
            for _ in 0..3 {
                let indices = pick_indices(n, t, &mut rng);
                let shares: Vec<_> =
                    indices.iter().map(|i| (*i, poly.evaluate_at_index(*i))).collect();
                prop_assert_eq!(interpolate_at_zero(&shares).unwrap(), secret);
                // More than t points of a degree t-1 polynomial still interpolate p(0).
                let all: Vec<_> = (1..=n).map(|i| (i, poly.evaluate_at_index(i))).collect();
                prop_assert_eq!(interpolate_at_zero(&all).unwrap(), secret);
            }
        }

        #[test]
        fn interpolation_in_the_exponent((t, n, seed) in sharing()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let poly = Polynomial::random(t - 1, &mut rng);
            let g = G1Projective::generator();
            let indices = pick_indices(n, t, &mut rng);
            let shares: Vec<_> =
                indices.iter().map(|i| (*i, g * poly.evaluate_at_index(*i))).collect();
            prop_assert_eq!(interpolate_at_zero(&shares).unwrap(), g * poly.evaluate(&Scalar::zero()));
        }

        #[test]
        fn fewer_than_t_points_do_not_recover_p0((t, n, seed) in sharing()) {
            prop_assume!(t >= 2);
            let mut rng = StdRng::seed_from_u64(seed);
            let poly = Polynomial::random(t - 1, &mut rng);
            let secret = poly.evaluate(&Scalar::zero());
            let indices = pick_indices(n, t - 1, &mut rng);
            let shares: Vec<_> =
                indices.iter().map(|i| (*i, poly.evaluate_at_index(*i))).collect();
            prop_assert_ne!(interpolate_at_zero(&shares).unwrap(), secret);
        }

        #[test]
        fn coefficients_sum_to_one(indices in proptest::collection::btree_set(1u64..1000, 1..12)) {
            // Interpolating the constant polynomial 1 must give 1.
            let indices: Vec<_> = indices.into_iter().collect();
            let sum: Scalar = lagrange_coefficients_at_zero(&indices).unwrap().into_iter().sum();
            prop_assert_eq!(sum, Scalar::one());
        }
    }

    #[test]
    fn rejects_bad_index_sets() {
        assert_eq!(
            lagrange_coefficients_at_zero(&[]),
            Err(CoconutError::EmptyAggregation)
        );
        assert_eq!(
            lagrange_coefficients_at_zero(&[1, 0, 2]),
            Err(CoconutError::ZeroIndex)
        );
        assert_eq!(
            lagrange_coefficients_at_zero(&[3, 1, 3]),
            Err(CoconutError::DuplicateIndex(3))
        );
    }

    #[test]
    fn known_small_example() {
        // p(x) = 5 + 3x: p(1) = 8, p(2) = 11.
        let shares = [(1, Scalar::from(8u64)), (2, Scalar::from(11u64))];
        assert_eq!(interpolate_at_zero(&shares).unwrap(), Scalar::from(5u64));
    }
}
