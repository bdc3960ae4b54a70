//! Blind issuance: Coconut `PrepareBlindSign`, `BlindSign` and `Unblind` (Sonnino et al.,
//! NDSS 2019, §IV-A), in the Pedersen-commitment form without ElGamal.
//!
//! 1. The user commits to all attributes, `cm = g1^r · Π h_j^{m_j}`, derives `h = H(cm)`, and
//!    commits to each private attribute separately as `c_j = g1^{o_j} · h^{m_j}`. The request
//!    carries `cm`, `h`, the `c_j` and `pi_s`; the public attributes travel in clear beside it.
//! 2. An authority checks `h = H(cm)` and `pi_s`, then answers
//!    `(h, Π c_j^{y_j} · h^{x + Σ_public y_k m_k})`.
//! 3. The user removes the `g1^{o_j y_j}` factors with the authority's `beta_g1_j = g1^{y_j}`:
//!    `s = c · Π beta_g1_j^{-o_j} = h^{x + Σ y_j m_j}`, and checks the result with a pairing.
//!
//! Attributes are ordered private first, then public: private attribute `j` uses `h_j` and
//! `y_j`, public attribute `k` uses `h_{p+k}` and `y_{p+k}` where `p` is the number of private
//! attributes. The first private attribute is the credential's serial number.

use core::fmt;

use bls12_381::{G1Projective, Scalar};
use ff::Field;
use rand_core_v010::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::{CoconutError, Result};
use super::hash::commitment_hash;
use super::keygen::{SecretKey, VerificationKey};
use super::params::Parameters;
use super::proofs::{BlindSignProof, BlindSignStatement, BlindSignWitness};
use super::signature::{BlindedSignature, Signature};

/// What the user sends to every authority to have its attributes blindly signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindSignRequest {
    pub(crate) commitment: G1Projective,
    pub(crate) commitment_hash: G1Projective,
    pub(crate) private_attributes_commitments: Vec<G1Projective>,
    pub(crate) pi_s: BlindSignProof,
}

impl BlindSignRequest {
    /// `cm = g1^r · Π h_j^{m_j}` over all attributes.
    pub fn commitment(&self) -> &G1Projective {
        &self.commitment
    }

    /// `h = H(cm)`.
    pub fn commitment_hash(&self) -> &G1Projective {
        &self.commitment_hash
    }

    /// `c_j = g1^{o_j} · h^{m_j}`, one per private attribute.
    pub fn private_attributes_commitments(&self) -> &[G1Projective] {
        &self.private_attributes_commitments
    }

    /// The proof `pi_s`.
    pub fn pi_s(&self) -> &BlindSignProof {
        &self.pi_s
    }

    /// Number of private attributes committed to.
    pub fn num_private_attributes(&self) -> usize {
        self.private_attributes_commitments.len()
    }

    fn statement<'a>(
        &'a self,
        params: &'a Parameters,
        public_attributes: &'a [Scalar],
    ) -> BlindSignStatement<'a> {
        BlindSignStatement {
            params,
            commitment: &self.commitment,
            commitment_hash: &self.commitment_hash,
            attribute_commitments: &self.private_attributes_commitments,
            public_attributes,
        }
    }

    /// Checks `h = H(cm)` and `pi_s` for the given public attributes (what an authority does
    /// before signing).
    pub fn verify(&self, params: &Parameters, public_attributes: &[Scalar]) -> Result<()> {
        if self.private_attributes_commitments.is_empty() {
            return Err(CoconutError::NoPrivateAttributes);
        }
        params.check_attribute_count(self.num_private_attributes() + public_attributes.len())?;
        if commitment_hash(&self.commitment) != self.commitment_hash {
            return Err(CoconutError::CommitmentHashMismatch);
        }
        self.pi_s.verify(&self.statement(params, public_attributes))
    }
}

/// The user's secret openings of a [`BlindSignRequest`]: `r` for `cm` and `o_j` for each `c_j`.
/// Needed to unblind; wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CommitmentOpenings {
    pub(crate) commitment_opening: Scalar,
    pub(crate) attribute_openings: Vec<Scalar>,
}

impl fmt::Debug for CommitmentOpenings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitmentOpenings")
            .field("private_attributes", &self.attribute_openings.len())
            .finish_non_exhaustive()
    }
}

/// Builds a blind-sign request for `private_attributes` (first = serial number) and
/// `public_attributes`; returns the secret openings to keep and the request to send.
pub fn prepare_blind_sign<R: CryptoRng + ?Sized>(
    params: &Parameters,
    private_attributes: &[Scalar],
    public_attributes: &[Scalar],
    rng: &mut R,
) -> Result<(CommitmentOpenings, BlindSignRequest)> {
    if private_attributes.is_empty() {
        return Err(CoconutError::NoPrivateAttributes);
    }
    params.check_attribute_count(private_attributes.len() + public_attributes.len())?;

    let g1 = params.gen1();
    let openings = CommitmentOpenings {
        commitment_opening: Scalar::random(&mut *rng),
        attribute_openings: (0..private_attributes.len())
            .map(|_| Scalar::random(&mut *rng))
            .collect(),
    };
    let all_attributes = private_attributes.iter().chain(public_attributes);
    let commitment = g1 * openings.commitment_opening
        + params
            .hs()
            .iter()
            .zip(all_attributes)
            .map(|(h, m)| h * m)
            .sum::<G1Projective>();
    let h = commitment_hash(&commitment);
    let private_attributes_commitments: Vec<G1Projective> = openings
        .attribute_openings
        .iter()
        .zip(private_attributes)
        .map(|(o, m)| g1 * o + h * m)
        .collect();

    let statement = BlindSignStatement {
        params,
        commitment: &commitment,
        commitment_hash: &h,
        attribute_commitments: &private_attributes_commitments,
        public_attributes,
    };
    let witness = BlindSignWitness {
        commitment_opening: &openings.commitment_opening,
        attribute_openings: &openings.attribute_openings,
        private_attributes,
    };
    let pi_s = BlindSignProof::construct(&statement, &witness, rng);
    let request = BlindSignRequest {
        commitment,
        commitment_hash: h,
        private_attributes_commitments,
        pi_s,
    };
    Ok((openings, request))
}

/// An authority's blind signature on a verified request.
pub fn blind_sign(
    params: &Parameters,
    secret_key: &SecretKey,
    request: &BlindSignRequest,
    public_attributes: &[Scalar],
) -> Result<BlindedSignature> {
    let private_count = request.num_private_attributes();
    if private_count + public_attributes.len() > secret_key.ys.len() {
        return Err(CoconutError::TooManyAttributes {
            requested: private_count + public_attributes.len(),
            supported: secret_key.ys.len(),
        });
    }
    request.verify(params, public_attributes)?;

    let h = request.commitment_hash;
    let (private_ys, public_ys) =
        secret_key
            .ys
            .split_at_checked(private_count)
            .ok_or(CoconutError::TooManyAttributes {
                requested: private_count,
                supported: secret_key.ys.len(),
            })?;
    let public_exponent = public_ys
        .iter()
        .zip(public_attributes)
        .fold(secret_key.x, |acc, (y, m)| acc + y * m);
    let c = h * public_exponent
        + request
            .private_attributes_commitments
            .iter()
            .zip(private_ys)
            .map(|(c_j, y)| c_j * y)
            .sum::<G1Projective>();
    Ok(BlindedSignature { h, c })
}

/// Removes the user's blinding: `s = c · Π beta_g1_j^{-o_j}`. Does not verify the result; see
/// [`unblind_and_verify`].
pub fn unblind(
    verification_key: &VerificationKey,
    blinded_signature: &BlindedSignature,
    openings: &CommitmentOpenings,
) -> Result<Signature> {
    let private_count = openings.attribute_openings.len();
    verification_key.check_attribute_count(private_count)?;
    let g1_openings = g1_sum_projective(&verification_key.beta_g1, &openings.attribute_openings);
    Ok(Signature {
        h: blinded_signature.h,
        s: blinded_signature.c - g1_openings,
    })
}

fn g1_sum_projective(bases: &[G1Projective], scalars: &[Scalar]) -> G1Projective {
    bases.iter().zip(scalars).map(|(b, s)| b * s).sum()
}

/// Unblinds an authority's answer to `request` and checks it, with that authority's
/// verification key, on all attributes (private first, then public).
pub fn unblind_and_verify(
    params: &Parameters,
    verification_key: &VerificationKey,
    request: &BlindSignRequest,
    blinded_signature: &BlindedSignature,
    openings: &CommitmentOpenings,
    private_attributes: &[Scalar],
    public_attributes: &[Scalar],
) -> Result<Signature> {
    if blinded_signature.h != request.commitment_hash
        || bool::from(blinded_signature.h.is_identity())
    {
        return Err(CoconutError::ForeignBlindedSignature);
    }
    if openings.attribute_openings.len() != private_attributes.len() {
        return Err(CoconutError::LengthMismatch {
            what: "openings and private attributes",
            expected: private_attributes.len(),
            actual: openings.attribute_openings.len(),
        });
    }
    let signature = unblind(verification_key, blinded_signature, openings)?;
    let attributes: Zeroizing<Vec<Scalar>> = Zeroizing::new(
        private_attributes
            .iter()
            .chain(public_attributes)
            .copied()
            .collect(),
    );
    signature.verify(params, verification_key, &attributes)?;
    Ok(signature)
}
