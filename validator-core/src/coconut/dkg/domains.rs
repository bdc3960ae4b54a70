//! Domain separation tags of every hash the DKG computes, distinct from Coconut's own
//! ([`crate::coconut::hash`]) so that no value can be replayed across protocols.

/// DST of [`super::DkgSecretKey::derive`]: a receiver key from a 32-byte seed.
pub const DST_RECEIVER_KEY: &[u8] = b"MIXNET-DKG-V1-RECEIVER-KEY-BLS12381FR_XMD:SHA-256_RO_";

/// DST of the Pedersen generator `h` (hashed from the empty message).
pub const DST_PEDERSEN_H: &[u8] = b"MIXNET-DKG-V1-PEDERSEN-H-BLS12381G1_XMD:SHA-256_SSWU_RO_";

/// DST of a dealer's polynomial coefficients, hashed from its seed.
pub const DST_COEFFICIENT: &[u8] = b"MIXNET-DKG-V1-COEFFICIENT-BLS12381FR_XMD:SHA-256_RO_";

/// DST of a dealer's ephemeral encryption scalar `r`, hashed from its seed.
pub const DST_EPHEMERAL: &[u8] = b"MIXNET-DKG-V1-EPHEMERAL-BLS12381FR_XMD:SHA-256_RO_";

/// DST of the Fiat-Shamir challenge of a disclosure's DLEQ proof.
pub const DST_DLEQ_CHALLENGE: &[u8] = b"MIXNET-DKG-V1-DLEQ-CHALLENGE-BLS12381FR_XMD:SHA-256_RO_";

/// DST of the weights of the batched pairing check of an opening.
pub const DST_OPENING_BATCH: &[u8] = b"MIXNET-DKG-V1-OPENING-BATCH-BLS12381FR_XMD:SHA-256_RO_";

/// Prefix of every SHA-256 block of the share-encryption keystream.
pub const DST_SHARE_KEYSTREAM: &[u8] = b"MIXNET-DKG-V1-SHARE-KEYSTREAM";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coconut::hash::{
        DST_ATTRIBUTE, DST_CHALLENGE_PI_S, DST_CHALLENGE_PI_V, DST_COMMITMENT_HASH,
        DST_H_GENERATORS,
    };

    #[test]
    fn dsts_are_distinct_from_each_other_and_from_coconut() {
        let all = [
            DST_RECEIVER_KEY,
            DST_PEDERSEN_H,
            DST_COEFFICIENT,
            DST_EPHEMERAL,
            DST_DLEQ_CHALLENGE,
            DST_OPENING_BATCH,
            DST_SHARE_KEYSTREAM,
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
}
