//! Non-interactive zero-knowledge proofs `pi_s` and `pi_v` (Sonnino et al., NDSS 2019, §IV-A
//! `PrepareBlindSign` / `ProveCred`, instantiated in the Appendix as Schnorr-style sigma
//! protocols made non-interactive with Fiat-Shamir).
//!
//! * [`BlindSignProof`] (`pi_s`) proves knowledge of `r, o_j, m_j` with
//!   `cm · Π_public h_k^{-m_k} = g1^r · Π_private h_j^{m_j}` and `c_j = g1^{o_j} · h^{m_j}`, so
//!   the same private attributes are in the commitment and in every per-attribute commitment.
//! * [`CredentialProof`] (`pi_v`) proves knowledge of `m_j, r` with
//!   `kappa = alpha · Π_private beta_g2_j^{m_j} · g2^r` and `zeta = g2^{m_1}` (the serial number).
//!
//! For each relation the prover commits to random witnesses, derives the challenge `c` by
//! hashing every public value of the statement (the parameter digest, which covers all
//! generators, plus keys, commitments and witness commitments) under a proof-specific DST, and
//! answers `response = witness - c · secret`. The verifier recomputes the witness commitments
//! from the responses and checks that they hash to the same challenge.

use bls12_381::{G1Affine, G1Projective, G2Projective, Scalar};
use ff::Field;
use rand_core_v010::CryptoRng;
use zeroize::Zeroizing;

use super::error::{CoconutError, Result};
use super::hash::{Transcript, DST_CHALLENGE_PI_S, DST_CHALLENGE_PI_V};
use super::keygen::VerificationKey;
use super::params::Parameters;
use super::signature::Signature;
use super::vartime::{mul_g1, mul_g2, sum_g2};

/// `pi_s`: proof that a blind-sign request is well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindSignProof {
    pub(crate) challenge: Scalar,
    pub(crate) response_opening: Scalar,
    pub(crate) response_attribute_openings: Vec<Scalar>,
    pub(crate) response_attributes: Vec<Scalar>,
}

/// `pi_v`: proof that `kappa` and `zeta` were built from the signed private attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProof {
    pub(crate) challenge: Scalar,
    pub(crate) response_blinder: Scalar,
    pub(crate) response_attributes: Vec<Scalar>,
}

/// Public values of `pi_s`.
pub(crate) struct BlindSignStatement<'a> {
    pub(crate) params: &'a Parameters,
    pub(crate) commitment: &'a G1Projective,
    pub(crate) commitment_hash: &'a G1Projective,
    pub(crate) attribute_commitments: &'a [G1Projective],
    pub(crate) public_attributes: &'a [Scalar],
}

/// Secrets of `pi_s`.
pub(crate) struct BlindSignWitness<'a> {
    pub(crate) commitment_opening: &'a Scalar,
    pub(crate) attribute_openings: &'a [Scalar],
    pub(crate) private_attributes: &'a [Scalar],
}

/// Public values of `pi_v`.
pub(crate) struct CredentialStatement<'a> {
    pub(crate) params: &'a Parameters,
    pub(crate) verification_key: &'a VerificationKey,
    pub(crate) credential: &'a Signature,
    pub(crate) kappa: &'a G2Projective,
    pub(crate) zeta: &'a G2Projective,
    /// What the presentation is for (the verifier's identity, a nonce), bound into the
    /// challenge so the proof verifies only in that context.
    pub(crate) context: &'a [u8],
}

/// Secrets of `pi_v`.
pub(crate) struct CredentialWitness<'a> {
    pub(crate) private_attributes: &'a [Scalar],
    pub(crate) blinder: &'a Scalar,
}

fn random_scalars<R: CryptoRng + ?Sized>(count: usize, rng: &mut R) -> Zeroizing<Vec<Scalar>> {
    Zeroizing::new((0..count).map(|_| Scalar::random(&mut *rng)).collect())
}

/// `Σ bases_i · scalars_i` over G1 (pairs beyond the shorter input are ignored; callers check
/// lengths first).
pub(crate) fn g1_sum<'a>(
    bases: impl IntoIterator<Item = &'a G1Affine>,
    scalars: &[Scalar],
) -> G1Projective {
    bases.into_iter().zip(scalars).map(|(b, s)| b * s).sum()
}

/// `Σ bases_i · scalars_i` over G2 (pairs beyond the shorter input are ignored; callers check
/// lengths first).
pub(crate) fn g2_sum<'a>(
    bases: impl IntoIterator<Item = &'a G2Projective>,
    scalars: &[Scalar],
) -> G2Projective {
    bases.into_iter().zip(scalars).map(|(b, s)| b * s).sum()
}

impl BlindSignStatement<'_> {
    /// Number of private attributes the statement is about.
    fn private_count(&self) -> usize {
        self.attribute_commitments.len()
    }

    /// `cm · Π_public h_k^{-m_k}`: the part of the commitment over private attributes
    /// (computed in variable time: everything here is public).
    fn private_commitment(&self) -> G1Projective {
        let public_hs = self.params.hs().iter().skip(self.private_count());
        self.commitment
            - public_hs
                .zip(self.public_attributes)
                .map(|(h, m)| mul_g1(&G1Projective::from(h), m))
                .sum::<G1Projective>()
    }

    fn challenge(
        &self,
        commitment_witness: &G1Projective,
        attribute_witnesses: &[G1Projective],
    ) -> Scalar {
        let mut transcript = Transcript::new();
        transcript.append_bytes(self.params.digest());
        transcript.append_g1(self.commitment);
        transcript.append_g1(self.commitment_hash);
        transcript.append_bytes(&(self.attribute_commitments.len() as u64).to_le_bytes());
        for c in self.attribute_commitments {
            transcript.append_g1(c);
        }
        transcript.append_bytes(&(self.public_attributes.len() as u64).to_le_bytes());
        for m in self.public_attributes {
            transcript.append_scalar(m);
        }
        transcript.append_g1(commitment_witness);
        for w in attribute_witnesses {
            transcript.append_g1(w);
        }
        transcript.challenge(DST_CHALLENGE_PI_S)
    }
}

impl BlindSignProof {
    /// Proves the statement; the caller guarantees the witness matches it and that the
    /// attribute count fits the parameters.
    pub(crate) fn construct<R: CryptoRng + ?Sized>(
        statement: &BlindSignStatement<'_>,
        witness: &BlindSignWitness<'_>,
        rng: &mut R,
    ) -> Self {
        let private_count = statement.private_count();
        let g1 = statement.params.gen1();
        let h = statement.commitment_hash;

        let w_opening = Zeroizing::new(Scalar::random(&mut *rng));
        let w_attribute_openings = random_scalars(private_count, rng);
        let w_attributes = random_scalars(private_count, rng);

        let commitment_witness = g1 * *w_opening + g1_sum(statement.params.hs(), &w_attributes);
        let attribute_witnesses: Vec<G1Projective> = w_attribute_openings
            .iter()
            .zip(w_attributes.iter())
            .map(|(w_o, w_m)| g1 * w_o + h * w_m)
            .collect();
        let challenge = statement.challenge(&commitment_witness, &attribute_witnesses);

        let respond = |w: &Scalar, secret: &Scalar| w - challenge * secret;
        BlindSignProof {
            challenge,
            response_opening: respond(&w_opening, witness.commitment_opening),
            response_attribute_openings: w_attribute_openings
                .iter()
                .zip(witness.attribute_openings)
                .map(|(w, o)| respond(w, o))
                .collect(),
            response_attributes: w_attributes
                .iter()
                .zip(witness.private_attributes)
                .map(|(w, m)| respond(w, m))
                .collect(),
        }
    }

    /// Verifies the proof against the statement.
    pub(crate) fn verify(&self, statement: &BlindSignStatement<'_>) -> Result<()> {
        let private_count = statement.private_count();
        if self.response_attributes.len() != private_count
            || self.response_attribute_openings.len() != private_count
        {
            return Err(CoconutError::InvalidBlindSignProof);
        }
        statement
            .params
            .check_attribute_count(private_count + statement.public_attributes.len())?;

        // Only public values from here on: variable-time arithmetic is fine.
        let g1 = G1Projective::from(statement.params.gen1());
        let h = statement.commitment_hash;
        let c = self.challenge;
        let commitment_witness = mul_g1(&statement.private_commitment(), &c)
            + mul_g1(&g1, &self.response_opening)
            + statement
                .params
                .hs()
                .iter()
                .zip(&self.response_attributes)
                .map(|(h_j, r_m)| mul_g1(&G1Projective::from(h_j), r_m))
                .sum::<G1Projective>();
        let attribute_witnesses: Vec<G1Projective> = statement
            .attribute_commitments
            .iter()
            .zip(&self.response_attribute_openings)
            .zip(&self.response_attributes)
            .map(|((cm_j, r_o), r_m)| mul_g1(cm_j, &c) + mul_g1(&g1, r_o) + mul_g1(h, r_m))
            .collect();
        if statement.challenge(&commitment_witness, &attribute_witnesses) == c {
            Ok(())
        } else {
            Err(CoconutError::InvalidBlindSignProof)
        }
    }
}

impl CredentialStatement<'_> {
    fn challenge(
        &self,
        private_count: usize,
        kappa_witness: &G2Projective,
        zeta_witness: &G2Projective,
    ) -> Scalar {
        let mut transcript = Transcript::new();
        transcript.append_bytes(self.params.digest());
        transcript.append_g2(&self.verification_key.alpha);
        transcript.append_bytes(&(private_count as u64).to_le_bytes());
        for beta in self.verification_key.beta_g2.iter().take(private_count) {
            transcript.append_g2(beta);
        }
        transcript.append_g1(&self.credential.h);
        transcript.append_g1(&self.credential.s);
        transcript.append_g2(self.kappa);
        transcript.append_g2(self.zeta);
        transcript.append_g2(kappa_witness);
        transcript.append_g2(zeta_witness);
        transcript.append_bytes(&(self.context.len() as u64).to_le_bytes());
        transcript.append_bytes(self.context);
        transcript.challenge(DST_CHALLENGE_PI_V)
    }
}

impl CredentialProof {
    /// Proves the statement; the caller guarantees at least one private attribute, that they
    /// fit the verification key, and that the witness matches the statement.
    pub(crate) fn construct<R: CryptoRng + ?Sized>(
        statement: &CredentialStatement<'_>,
        witness: &CredentialWitness<'_>,
        rng: &mut R,
    ) -> Self {
        let private_count = witness.private_attributes.len();
        let g2 = G2Projective::from(statement.params.gen2());
        let vk = statement.verification_key;

        let w_blinder = Zeroizing::new(Scalar::random(&mut *rng));
        let w_attributes = random_scalars(private_count, rng);

        let kappa_witness = vk.alpha + g2_sum(&vk.beta_g2, &w_attributes) + g2 * *w_blinder;
        let zeta_witness = w_attributes
            .first()
            .map_or(G2Projective::identity(), |w| g2 * w);
        let challenge = statement.challenge(private_count, &kappa_witness, &zeta_witness);

        CredentialProof {
            challenge,
            response_blinder: *w_blinder - challenge * witness.blinder,
            response_attributes: w_attributes
                .iter()
                .zip(witness.private_attributes)
                .map(|(w, m)| w - challenge * m)
                .collect(),
        }
    }

    /// Number of private attributes the proof covers.
    pub fn num_private_attributes(&self) -> usize {
        self.response_attributes.len()
    }

    /// Verifies the proof against the statement.
    pub(crate) fn verify(&self, statement: &CredentialStatement<'_>) -> Result<()> {
        let private_count = self.response_attributes.len();
        let Some(response_serial) = self.response_attributes.first() else {
            return Err(CoconutError::NoPrivateAttributes);
        };
        let vk = statement.verification_key;
        vk.check_attribute_count(private_count)?;

        // Only public values from here on: variable-time arithmetic is fine.
        let g2 = G2Projective::from(statement.params.gen2());
        let c = self.challenge;
        let kappa_witness = mul_g2(statement.kappa, &c)
            + mul_g2(&vk.alpha, &(Scalar::one() - c))
            + sum_g2(&vk.beta_g2, &self.response_attributes)
            + mul_g2(&g2, &self.response_blinder);
        let zeta_witness = mul_g2(statement.zeta, &c) + mul_g2(&g2, response_serial);
        if statement.challenge(private_count, &kappa_witness, &zeta_witness) == c {
            Ok(())
        } else {
            Err(CoconutError::InvalidCredentialProof)
        }
    }
}
