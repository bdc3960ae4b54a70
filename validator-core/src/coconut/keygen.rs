//! Key generation by a trusted dealer: Coconut `TTPKeyGen(params, t, n)` (Sonnino et al.,
//! NDSS 2019, §IV-A and §III-D).
//!
//! The dealer draws one random polynomial of degree `t - 1` for `x` and one per `y_i`, hands
//! authority `i` (1-based) the evaluations at `i`, and forgets the polynomials. Each authority
//! publishes `vk_i = (g2^{x_i}, g1^{y_{i,j}}, g2^{y_{i,j}})`. The `g1` copies of `beta` let a
//! user unblind a signature issued on Pedersen-committed private attributes.

use core::fmt;

use bls12_381::{G1Projective, G2Projective, Scalar};
use rand_core_v010::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::{CoconutError, Result};
use super::lagrange::{Polynomial, SignerIndex};
use super::params::Parameters;

/// An authority's secret key `(x, y_1..y_q)`; wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    pub(crate) x: Scalar,
    pub(crate) ys: Vec<Scalar>,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("attributes", &self.ys.len())
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Number of attributes this key can sign.
    pub fn num_attributes(&self) -> usize {
        self.ys.len()
    }

    /// Derives the matching verification key.
    pub fn verification_key(&self, params: &Parameters) -> VerificationKey {
        let g1 = G1Projective::from(params.gen1());
        let g2 = G2Projective::from(params.gen2());
        VerificationKey {
            alpha: g2 * self.x,
            beta_g1: self.ys.iter().map(|y| g1 * y).collect(),
            beta_g2: self.ys.iter().map(|y| g2 * y).collect(),
        }
    }
}

/// A (partial or aggregated) verification key `(alpha, beta_g1, beta_g2)` =
/// `(g2^x, [g1^{y_j}], [g2^{y_j}])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    pub(crate) alpha: G2Projective,
    pub(crate) beta_g1: Vec<G1Projective>,
    pub(crate) beta_g2: Vec<G2Projective>,
}

impl VerificationKey {
    /// `alpha = g2^x`.
    pub fn alpha(&self) -> &G2Projective {
        &self.alpha
    }

    /// `beta_g1_j = g1^{y_j}`, used to unblind.
    pub fn beta_g1(&self) -> &[G1Projective] {
        &self.beta_g1
    }

    /// `beta_g2_j = g2^{y_j}`, used to verify.
    pub fn beta_g2(&self) -> &[G2Projective] {
        &self.beta_g2
    }

    /// Number of attributes this key can verify.
    pub fn num_attributes(&self) -> usize {
        self.beta_g2.len()
    }

    /// Fails unless `count` attributes fit in this key.
    pub(crate) fn check_attribute_count(&self, count: usize) -> Result<()> {
        if count > self.beta_g2.len() {
            return Err(CoconutError::TooManyAttributes {
                requested: count,
                supported: self.beta_g2.len(),
            });
        }
        Ok(())
    }
}

/// One authority's share of the threshold key.
#[derive(Debug, Clone)]
pub struct KeyPair {
    index: SignerIndex,
    secret_key: SecretKey,
    verification_key: VerificationKey,
}

impl KeyPair {
    /// Assembles a key pair; the caller vouches that `verification_key` belongs to
    /// `secret_key`.
    pub(crate) fn new(
        index: SignerIndex,
        secret_key: SecretKey,
        verification_key: VerificationKey,
    ) -> Self {
        KeyPair {
            index,
            secret_key,
            verification_key,
        }
    }

    /// The authority's share index (1-based); needed for aggregation.
    pub fn index(&self) -> SignerIndex {
        self.index
    }

    /// The authority's secret key share.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }

    /// The authority's partial verification key.
    pub fn verification_key(&self) -> &VerificationKey {
        &self.verification_key
    }
}

/// Trusted-dealer threshold key generation: `num_authorities` key shares, any `threshold` of
/// which can issue credentials verifiable under the aggregated verification key.
///
/// Keys support `params.max_attributes()` attributes. A single signer is `ttp_keygen(p, 1, 1)`.
pub fn ttp_keygen<R: CryptoRng + ?Sized>(
    params: &Parameters,
    threshold: u64,
    num_authorities: u64,
    rng: &mut R,
) -> Result<Vec<KeyPair>> {
    if threshold == 0 || threshold > num_authorities {
        return Err(CoconutError::InvalidThreshold {
            threshold,
            authorities: num_authorities,
        });
    }
    let invalid = CoconutError::InvalidThreshold {
        threshold,
        authorities: num_authorities,
    };
    let degree = usize::try_from(threshold - 1).map_err(|_| invalid)?;

    let v = Polynomial::random(degree, rng);
    let ws: Vec<Polynomial> = (0..params.max_attributes())
        .map(|_| Polynomial::random(degree, rng))
        .collect();

    Ok((1..=num_authorities)
        .map(|index| {
            let secret_key = SecretKey {
                x: v.evaluate_at_index(index),
                ys: ws.iter().map(|w| w.evaluate_at_index(index)).collect(),
            };
            let verification_key = secret_key.verification_key(params);
            KeyPair {
                index,
                secret_key,
                verification_key,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coconut::lagrange::interpolate_at_zero;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn rejects_bad_thresholds() {
        let params = Parameters::new(2).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for (t, n) in [(0, 3), (4, 3), (0, 0), (1, 0)] {
            assert_eq!(
                ttp_keygen(&params, t, n, &mut rng).unwrap_err(),
                CoconutError::InvalidThreshold {
                    threshold: t,
                    authorities: n
                }
            );
        }
    }

    #[test]
    fn shares_lie_on_one_polynomial_of_degree_t_minus_1() {
        let params = Parameters::new(3).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let keys = ttp_keygen(&params, 3, 5, &mut rng).unwrap();
        assert_eq!(keys.len(), 5);
        assert_eq!(
            keys.iter().map(KeyPair::index).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        let xs = |ids: &[usize]| {
            let shares: Vec<_> = ids
                .iter()
                .map(|&i| (keys[i].index(), keys[i].secret_key().x))
                .collect();
            interpolate_at_zero(&shares).unwrap()
        };
        assert_eq!(xs(&[0, 1, 2]), xs(&[2, 3, 4]));
        assert_eq!(xs(&[0, 2, 4]), xs(&[1, 3, 4]));
        assert_ne!(xs(&[0, 1]), xs(&[0, 1, 2]));
        for k in &keys {
            assert_eq!(
                k.verification_key(),
                &k.secret_key().verification_key(&params)
            );
            assert_eq!(k.verification_key().num_attributes(), 3);
        }
    }

    #[test]
    fn debug_does_not_leak_secrets() {
        let params = Parameters::new(1).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let keys = ttp_keygen(&params, 1, 1, &mut rng).unwrap();
        let shown = format!("{:?}", keys[0].secret_key());
        assert!(!shown.contains("0x"), "{shown}");
    }
}
