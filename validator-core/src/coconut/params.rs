//! Public parameters: Coconut `Setup(1^λ, q)` (Sonnino et al., NDSS 2019, §IV-A).
//!
//! The paper's setup outputs `(G1, G2, GT, p, g1, g2, h_1..h_q)`. Here the groups are those of
//! BLS12-381, `g1`/`g2` are the standard generators, and each `h_i` is obtained by hashing its
//! index to G1 under [`DST_H_GENERATORS`], so nobody knows a discrete-log relation between them
//! (which the binding property of the Pedersen commitment relies on).

use bls12_381::{G1Affine, G1Projective, G2Affine, G2Prepared};
use sha2_v010::{Digest, Sha256};

use super::error::{CoconutError, Result};
use super::hash::{hash_to_g1, DST_H_GENERATORS};

/// Label hashed into [`Parameters::digest`].
const PARAMETERS_DIGEST_LABEL: &[u8] = b"MIXNET-COCONUT-V1-PARAMETERS";

/// Public system parameters for credentials with up to `hs.len()` attributes.
#[derive(Debug, Clone)]
pub struct Parameters {
    g1: G1Affine,
    g2: G2Affine,
    /// `g2` prepared once for the Miller loop of every verification.
    g2_prepared: G2Prepared,
    hs: Vec<G1Affine>,
    digest: [u8; 32],
}

/// Parameters are equal when their digests (which cover every generator) are.
impl PartialEq for Parameters {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for Parameters {}

impl Parameters {
    /// Sets up parameters for credentials carrying at most `num_attributes` attributes
    /// (private and public together).
    ///
    /// `h_i` (0-based `i`) is `hash_to_g1(i as u64 little endian, DST_H_GENERATORS)`.
    pub fn new(num_attributes: usize) -> Result<Self> {
        if num_attributes == 0 {
            return Err(CoconutError::ZeroAttributes);
        }
        let hs_projective: Vec<G1Projective> = (0..num_attributes as u64)
            .map(|i| hash_to_g1(&i.to_le_bytes(), DST_H_GENERATORS))
            .collect();
        let mut hs = vec![G1Affine::identity(); num_attributes];
        <G1Projective as group::Curve>::batch_normalize(&hs_projective, &mut hs);

        let g1 = G1Affine::generator();
        let g2 = G2Affine::generator();
        let mut hasher = Sha256::new();
        hasher.update(PARAMETERS_DIGEST_LABEL);
        hasher.update(g1.to_compressed());
        hasher.update(g2.to_compressed());
        hasher.update((num_attributes as u64).to_le_bytes());
        for h in &hs {
            hasher.update(h.to_compressed());
        }
        let digest = hasher.finalize().into();
        Ok(Parameters {
            g1,
            g2,
            g2_prepared: G2Prepared::from(g2),
            hs,
            digest,
        })
    }

    /// The standard generator of G1.
    pub fn gen1(&self) -> &G1Affine {
        &self.g1
    }

    /// The standard generator of G2.
    pub fn gen2(&self) -> &G2Affine {
        &self.g2
    }

    /// `g2` in the form the Miller loop consumes.
    pub(crate) fn gen2_prepared(&self) -> &G2Prepared {
        &self.g2_prepared
    }

    /// The hashed generators `h_1..h_q`.
    pub fn hs(&self) -> &[G1Affine] {
        &self.hs
    }

    /// Maximum number of attributes (private + public) a credential can carry.
    pub fn max_attributes(&self) -> usize {
        self.hs.len()
    }

    /// SHA-256 digest of all generators; fed into every Fiat-Shamir challenge so that proofs
    /// are bound to these parameters.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Fails unless `count` attributes fit in these parameters.
    pub(crate) fn check_attribute_count(&self, count: usize) -> Result<()> {
        if count > self.hs.len() {
            return Err(CoconutError::TooManyAttributes {
                requested: count,
                supported: self.hs.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_attributes_rejected() {
        assert_eq!(Parameters::new(0), Err(CoconutError::ZeroAttributes));
    }

    #[test]
    fn generators_are_deterministic_distinct_and_prefix_stable() {
        let p3 = Parameters::new(3).unwrap();
        let p5 = Parameters::new(5).unwrap();
        assert_eq!(p3.hs(), &p5.hs()[..3]);
        for (i, a) in p5.hs().iter().enumerate() {
            assert!(!bool::from(a.is_identity()));
            assert_ne!(a, p5.gen1());
            for b in &p5.hs()[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(p3.digest(), p5.digest());
        assert_eq!(p3, Parameters::new(3).unwrap());
    }
}
