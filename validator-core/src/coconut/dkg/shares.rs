//! [`Shares`]: what one dealer deals one receiver, and the Pedersen check of shares against
//! a dealing's commitments, `g1^{f_s(j)} h^{f'_s(j)} = Π_k C_{s,k}^{j^k}`.

use core::fmt;

use bls12_381::{G1Projective, Scalar};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::domains::DST_PEDERSEN_H;
use super::polynomials::evaluate_g1;
use crate::coconut::hash::hash_to_g1;
use crate::coconut::SignerIndex;

/// The Pedersen generator `h = hash_to_g1("", DST_PEDERSEN_H)`; nobody knows `log_{g1} h`.
pub fn pedersen_h() -> G1Projective {
    hash_to_g1(b"", DST_PEDERSEN_H)
}

/// Receiver `j`'s shares from one dealer: `f_s(j)` and the blinding `f'_s(j)` for every secret
/// `s` (`x` first). Secret while only the receiver holds them; wiped when dropped and never
/// shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Shares {
    pub(crate) dealer: SignerIndex,
    pub(crate) receiver: SignerIndex,
    pub(crate) values: Vec<Scalar>,
    pub(crate) blinds: Vec<Scalar>,
}

impl fmt::Debug for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shares")
            .field("dealer", &self.dealer)
            .field("receiver", &self.receiver)
            .field("secrets", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Shares {
    /// The dealer.
    pub fn dealer(&self) -> SignerIndex {
        self.dealer
    }

    /// The receiver `j`.
    pub fn receiver(&self) -> SignerIndex {
        self.receiver
    }

    /// Number of secrets shared (`q + 1`).
    pub fn num_secrets(&self) -> usize {
        self.values.len()
    }

    /// The first secret `s` whose shares fail `commitments[s]` (Pedersen, `h` from
    /// [`pedersen_h`]), or `None` if all pass. Shapes must have been checked by the caller;
    /// missing entries count as failures.
    pub(crate) fn first_pedersen_failure(
        &self,
        commitments: &[Vec<G1Projective>],
        h: &G1Projective,
    ) -> Option<usize> {
        if self.values.len() != commitments.len() || self.blinds.len() != commitments.len() {
            return Some(0);
        }
        let g1 = G1Projective::generator();
        (0..commitments.len()).find(|&s| {
            let lhs = g1 * self.values[s] + h * self.blinds[s];
            lhs != evaluate_g1(&commitments[s], self.receiver)
        })
    }
}
