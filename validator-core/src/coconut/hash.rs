//! Hashing into the groups and the scalar field, with this project's own domain separation.
//!
//! Coconut (Sonnino et al., NDSS 2019, §III "Cryptographic primitives" and §IV-A) needs
//! hash functions modelled as random oracles in three places:
//!
//! * the public generators `h_1..h_q` of the Pedersen commitment (Setup),
//! * `h = H(cm)`, the base of a credential, derived from the commitment so that the user cannot
//!   choose it (PrepareBlindSign / BlindSign),
//! * the Fiat-Shamir challenges of the non-interactive proofs `pi_s` and `pi_v`.
//!
//! All hashing uses `hash_to_curve` / `hash_to_field` from RFC 9380 with
//! `expand_message_xmd(SHA-256)`; the suites differ only in their domain separation tags
//! (DSTs), which are unique to this project so that no value can be replayed across protocols.

use bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve, HashToField};
use bls12_381::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use sha2_v010::Sha256;

/// DST for the Pedersen generators `h_i` of [`super::Parameters`].
pub const DST_H_GENERATORS: &[u8] =
    b"MIXNET-COCONUT-V1-H-GENERATORS-BLS12381G1_XMD:SHA-256_SSWU_RO_";

/// DST for `h = H(cm)`, the commitment hash that becomes the credential's first element.
pub const DST_COMMITMENT_HASH: &[u8] =
    b"MIXNET-COCONUT-V1-COMMITMENT-HASH-BLS12381G1_XMD:SHA-256_SSWU_RO_";

/// DST for the Fiat-Shamir challenge of `pi_s` (blind-sign request proof).
pub const DST_CHALLENGE_PI_S: &[u8] =
    b"MIXNET-COCONUT-V1-PI-S-CHALLENGE-BLS12381FR_XMD:SHA-256_RO_";

/// DST for the Fiat-Shamir challenge of `pi_v` (credential presentation proof).
pub const DST_CHALLENGE_PI_V: &[u8] =
    b"MIXNET-COCONUT-V1-PI-V-CHALLENGE-BLS12381FR_XMD:SHA-256_RO_";

/// DST for turning application data (e.g. a credential type name) into an attribute.
pub const DST_ATTRIBUTE: &[u8] = b"MIXNET-COCONUT-V1-ATTRIBUTE-BLS12381FR_XMD:SHA-256_RO_";

type Xmd = ExpandMsgXmd<Sha256>;

/// Hashes `message` to a point of G1 (RFC 9380 `hash_to_curve`, random-oracle variant).
pub fn hash_to_g1(message: &[u8], dst: &[u8]) -> G1Projective {
    <G1Projective as HashToCurve<Xmd>>::hash_to_curve([message], dst)
}

/// Hashes `message` to a scalar (RFC 9380 `hash_to_field` with 48 bytes of output per scalar,
/// so the result is statistically close to uniform).
pub fn hash_to_scalar(message: &[u8], dst: &[u8]) -> Scalar {
    let mut out = [Scalar::zero()];
    Scalar::hash_to_field::<Xmd, _>([message], dst, &mut out);
    out[0]
}

/// Maps arbitrary application bytes (such as a credential type name) to an attribute.
///
/// Small integers (such as a bandwidth amount) can be used directly through
/// `Scalar::from(u64)`.
pub fn hash_to_attribute(data: &[u8]) -> Scalar {
    hash_to_scalar(data, DST_ATTRIBUTE)
}

/// `h = H(cm)`: the credential base derived from a commitment.
pub(crate) fn commitment_hash(commitment: &G1Projective) -> G1Projective {
    hash_to_g1(
        &G1Affine::from(commitment).to_compressed(),
        DST_COMMITMENT_HASH,
    )
}

/// Collects the public values of a sigma protocol and hashes them into a challenge.
///
/// Every item is prefixed with its length (u64, little endian), so distinct sequences of items
/// never produce the same byte string.
pub(crate) struct Transcript {
    bytes: Vec<u8>,
}

impl Transcript {
    pub(crate) fn new() -> Self {
        Transcript {
            bytes: Vec::with_capacity(1024),
        }
    }

    pub(crate) fn append_bytes(&mut self, item: &[u8]) {
        self.bytes
            .extend_from_slice(&(item.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(item);
    }

    pub(crate) fn append_g1(&mut self, point: &G1Projective) {
        self.append_bytes(&G1Affine::from(point).to_compressed());
    }

    pub(crate) fn append_g2(&mut self, point: &G2Projective) {
        self.append_bytes(&G2Affine::from(point).to_compressed());
    }

    pub(crate) fn append_scalar(&mut self, scalar: &Scalar) {
        self.append_bytes(&scalar.to_bytes());
    }

    pub(crate) fn challenge(&self, dst: &[u8]) -> Scalar {
        hash_to_scalar(&self.bytes, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsts_are_distinct_and_within_rfc_limit() {
        let all = [
            DST_H_GENERATORS,
            DST_COMMITMENT_HASH,
            DST_CHALLENGE_PI_S,
            DST_CHALLENGE_PI_V,
            DST_ATTRIBUTE,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.len() <= 255);
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn domain_separation_changes_outputs() {
        let m = b"same message";
        assert_ne!(
            hash_to_g1(m, DST_H_GENERATORS),
            hash_to_g1(m, DST_COMMITMENT_HASH)
        );
        assert_ne!(
            hash_to_scalar(m, DST_CHALLENGE_PI_S),
            hash_to_scalar(m, DST_CHALLENGE_PI_V)
        );
        assert_eq!(
            hash_to_g1(m, DST_H_GENERATORS),
            hash_to_g1(m, DST_H_GENERATORS)
        );
        assert!(!bool::from(hash_to_g1(m, DST_H_GENERATORS).is_identity()));
    }

    #[test]
    fn transcript_is_length_prefixed() {
        let mut a = Transcript::new();
        a.append_bytes(b"ab");
        a.append_bytes(b"c");
        let mut b = Transcript::new();
        b.append_bytes(b"a");
        b.append_bytes(b"bc");
        assert_ne!(
            a.challenge(DST_CHALLENGE_PI_S),
            b.challenge(DST_CHALLENGE_PI_S)
        );
    }
}
