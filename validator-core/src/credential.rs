//! Bandwidth credentials: what this network puts in a Coconut credential, how a request is
//! paid for, and the key material validators publish.
//!
//! A credential carries four attributes, in this order:
//!
//! | # | attribute | visibility | value |
//! |---|---|---|---|
//! | 0 | serial number | private | random scalar; `zeta = g2^serial` is its spent tag |
//! | 1 | binding number | private | random scalar binding the credential to its holder |
//! | 2 | bandwidth | public | bytes of traffic it buys, `Scalar::from(u64)` |
//! | 3 | credential type | public | [`hash_to_attribute`] of the type name |
//!
//! A request is paid for by a deposit statement whose digest is
//! [`request_digest`]`(request, public attributes)` and whose amount equals the bandwidth:
//! one ledger unit buys one unit of bandwidth. Every validator debits a deposit once, however
//! often its blind signature is asked for.
//!
//! A credential is spent at one gateway: the holder presents it for a [`SpendContext`] (that
//! gateway's identity and a nonce the holder draws), which the presentation's proof is bound
//! to, so a presentation seen on the wire cannot be credited at any other gateway.

use serde::{Deserialize, Serialize};

use crate::chain::dkg::KeyEpochId;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::coconut::{
    aggregate_verification_keys, hash_to_attribute, BlindSignRequest, CoconutError, KeyPair,
    Parameters, Scalar, SignerIndex, VerificationKey,
};
use crate::primitives::{hash32_type, sha256, IdentityKey};
use crate::statement::CredentialRequestDigest;

/// Attributes per credential: two private, two public.
pub const NUM_ATTRIBUTES: usize = 4;
/// Private attributes per credential (serial number, binding number).
pub const NUM_PRIVATE_ATTRIBUTES: usize = 2;
/// Domain prefix of [`request_digest`].
pub const REQUEST_DIGEST_DOMAIN: &[u8] = b"mixnet-credential-request-v1";
/// The credential type of bandwidth vouchers.
pub const BANDWIDTH_VOUCHER: &str = "BandwidthVoucher";
/// Longest credential type name.
pub const MAX_CREDENTIAL_TYPE_LEN: usize = 64;

/// The Coconut parameters of this network's credentials.
pub fn parameters() -> Parameters {
    Parameters::new(NUM_ATTRIBUTES).expect("Parameters::new fails only for zero attributes")
}

/// The public attributes, as sent in the clear next to a request or a presentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicAttributes {
    /// Bytes of traffic the credential buys.
    pub bandwidth: u64,
    /// The credential type, [`BANDWIDTH_VOUCHER`] for bandwidth.
    pub credential_type: String,
}

/// Why public attributes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// Zero bandwidth buys nothing.
    #[error("bandwidth must be at least 1")]
    ZeroBandwidth,
    /// The type name is empty, too long or not printable ASCII.
    #[error("credential_type must be 1 to {MAX_CREDENTIAL_TYPE_LEN} printable ASCII characters")]
    BadType,
}

impl PublicAttributes {
    /// A bandwidth voucher for `bandwidth` bytes.
    pub fn bandwidth_voucher(bandwidth: u64) -> Self {
        Self {
            bandwidth,
            credential_type: BANDWIDTH_VOUCHER.to_owned(),
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), AttributeError> {
        if self.bandwidth == 0 {
            return Err(AttributeError::ZeroBandwidth);
        }
        let t = self.credential_type.as_bytes();
        if t.is_empty()
            || t.len() > MAX_CREDENTIAL_TYPE_LEN
            || !t.iter().all(|b| b.is_ascii_graphic())
        {
            return Err(AttributeError::BadType);
        }
        Ok(())
    }

    /// The attribute scalars, in credential order.
    pub fn scalars(&self) -> [Scalar; 2] {
        [
            Scalar::from(self.bandwidth),
            hash_to_attribute(self.credential_type.as_bytes()),
        ]
    }
}

/// The digest a deposit statement names to pay for `request`:
/// `SHA-256(domain || len || request bytes || bandwidth:u64 || len || type)`.
pub fn request_digest(
    request: &BlindSignRequest,
    public: &PublicAttributes,
) -> CredentialRequestDigest {
    let request_bytes = request.to_bytes();
    let type_bytes = public.credential_type.as_bytes();
    CredentialRequestDigest(sha256(&[
        REQUEST_DIGEST_DOMAIN,
        &(request_bytes.len() as u64).to_be_bytes(),
        &request_bytes,
        &public.bandwidth.to_be_bytes(),
        &(type_bytes.len() as u64).to_be_bytes(),
        type_bytes,
    ]))
}

/// Domain prefix of [`SpendContext::to_bytes`].
pub const SPEND_CONTEXT_DOMAIN: &[u8] = b"mixnet-credential-spend-v1";

hash32_type!(
    /// A random value the holder draws for one presentation.
    SpendNonce
);

/// What a presentation is for: the gateway that credits it, and the holder's nonce for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendContext {
    /// The gateway's identity key.
    pub gateway: IdentityKey,
    /// Drawn by the holder for this presentation.
    pub nonce: SpendNonce,
}

impl SpendContext {
    /// The bytes the presentation's proof is bound to:
    /// `domain || gateway identity[32] || nonce[32]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        [
            SPEND_CONTEXT_DOMAIN,
            self.gateway.as_bytes(),
            self.nonce.as_bytes(),
        ]
        .concat()
    }
}

/// The private attributes a holder keeps secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateAttributes {
    /// Serial number; revealed only as `zeta` when spent.
    pub serial_number: Scalar,
    /// Binding number.
    pub binding_number: Scalar,
}

impl std::fmt::Debug for PrivateAttributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateAttributes(..)")
    }
}

impl PrivateAttributes {
    /// Fresh random attributes.
    pub fn random<R: rand_core_v010::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        use ff::Field;
        Self {
            serial_number: Scalar::random(&mut *rng),
            binding_number: Scalar::random(&mut *rng),
        }
    }

    /// The scalars, in credential order.
    pub fn scalars(&self) -> [Scalar; 2] {
        [self.serial_number, self.binding_number]
    }
}

/// One authority's verification key with its Shamir index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexedVerificationKey {
    /// Its index (1-based, as dealt by key generation).
    pub index: SignerIndex,
    /// The partial verification key.
    pub verification_key: VerificationKey,
}

/// The public output of key generation: every authority's partial verification key, the
/// threshold, and the aggregate key credentials verify under. Validators load it from
/// `verification-keys.json` and serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationKeySet {
    /// The key epoch of the chain's key generation that produced it (0 for the first, and
    /// for a trusted dealer's keys).
    #[serde(default)]
    pub key_epoch: KeyEpochId,
    /// Partial signatures needed.
    pub threshold: u64,
    /// Every authority's key, by index.
    pub authorities: Vec<IndexedVerificationKey>,
    /// The aggregate (master) verification key.
    pub aggregate: VerificationKey,
}

/// Why a verification-key set is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// Threshold zero or above the number of authorities.
    #[error("threshold {threshold} is not between 1 and the {authorities} authorities")]
    Threshold {
        /// The threshold.
        threshold: u64,
        /// Authorities listed.
        authorities: usize,
    },
    /// Two authorities share an index.
    #[error("index {0} is listed twice")]
    DuplicateIndex(SignerIndex),
    /// A key is for another number of attributes.
    #[error("key {index} supports {got} attributes, credentials have {NUM_ATTRIBUTES}")]
    AttributeCount {
        /// The authority.
        index: SignerIndex,
        /// Its attribute count.
        got: usize,
    },
    /// Interpolating the first `threshold` partial keys does not give the aggregate.
    #[error("the aggregate key is not the interpolation of the partial keys")]
    AggregateMismatch,
    /// A partial key beyond the first `threshold` does not lie on their polynomial.
    #[error("the partial key of authority {0} does not lie on the other keys' polynomial")]
    OffPolynomial(SignerIndex),
    /// Coconut refused the keys.
    #[error(transparent)]
    Coconut(#[from] CoconutError),
}

impl VerificationKeySet {
    /// The key set of a key generation: every authority's key, and their aggregate under
    /// `threshold`. Checked with [`VerificationKeySet::validate`].
    pub fn from_key_pairs(threshold: u64, keys: &[KeyPair]) -> Result<Self, KeySetError> {
        let pairs: Vec<(SignerIndex, VerificationKey)> = keys
            .iter()
            .map(|k| (k.index(), k.verification_key().clone()))
            .collect();
        let t = usize::try_from(threshold)
            .unwrap_or(usize::MAX)
            .min(pairs.len());
        let set = Self {
            key_epoch: KeyEpochId(0),
            threshold,
            aggregate: aggregate_verification_keys(&pairs[..t])?,
            authorities: pairs
                .into_iter()
                .map(|(index, verification_key)| IndexedVerificationKey {
                    index,
                    verification_key,
                })
                .collect(),
        };
        set.validate()?;
        Ok(set)
    }

    /// Checks the threshold, the indices, and that every partial key lies on the one
    /// polynomial of degree `threshold - 1` whose value at zero is the aggregate: the first
    /// `threshold` keys interpolate to the aggregate, and so does each further key taken with
    /// the first `threshold - 1` (the `threshold - 1` keys and the aggregate fix the
    /// polynomial, so the further key must be its value at its index). A tampered partial or
    /// aggregate key is caught whichever subset a client later uses.
    pub fn validate(&self) -> Result<(), KeySetError> {
        let n = self.authorities.len();
        let t = usize::try_from(self.threshold).unwrap_or(usize::MAX);
        if t == 0 || t > n {
            return Err(KeySetError::Threshold {
                threshold: self.threshold,
                authorities: n,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.authorities {
            if !seen.insert(a.index) {
                return Err(KeySetError::DuplicateIndex(a.index));
            }
            if a.verification_key.num_attributes() != NUM_ATTRIBUTES {
                return Err(KeySetError::AttributeCount {
                    index: a.index,
                    got: a.verification_key.num_attributes(),
                });
            }
        }
        let pairs: Vec<(SignerIndex, VerificationKey)> = self
            .authorities
            .iter()
            .map(|a| (a.index, a.verification_key.clone()))
            .collect();
        if aggregate_verification_keys(&pairs[..t])? != self.aggregate {
            return Err(KeySetError::AggregateMismatch);
        }
        let mut subset = pairs[..t - 1].to_vec();
        for further in &pairs[t..] {
            subset.push(further.clone());
            if aggregate_verification_keys(&subset)? != self.aggregate {
                return Err(KeySetError::OffPolynomial(further.0));
            }
            subset.pop();
        }
        Ok(())
    }

    /// The partial key of authority `index`.
    pub fn authority(&self, index: SignerIndex) -> Option<&VerificationKey> {
        self.authorities
            .iter()
            .find(|a| a.index == index)
            .map(|a| &a.verification_key)
    }
}

/// The spent tag of a presentation, `zeta`, in base58 (its text form in the API).
pub fn zeta_to_bs58(zeta: &[u8]) -> String {
    bs58::encode(zeta).into_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::coconut::{prepare_blind_sign, ttp_keygen};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn key_set(t: u64, n: u64, rng: &mut StdRng) -> VerificationKeySet {
        let keys = ttp_keygen(&parameters(), t, n, rng).unwrap();
        VerificationKeySet::from_key_pairs(t, &keys).unwrap()
    }

    #[test]
    fn key_set_validation_catches_tampering() {
        let mut rng = StdRng::seed_from_u64(7);
        let good = key_set(2, 3, &mut rng);
        good.validate().unwrap();
        let json = serde_json::to_string(&good).unwrap();
        assert_eq!(
            serde_json::from_str::<VerificationKeySet>(&json).unwrap(),
            good
        );

        let other = key_set(2, 3, &mut rng);
        let mut swapped_last = good.clone();
        swapped_last.authorities[2] = other.authorities[2].clone();
        assert_eq!(swapped_last.validate(), Err(KeySetError::OffPolynomial(3)));
        let mut swapped_first = good.clone();
        swapped_first.authorities[0] = other.authorities[0].clone();
        assert_eq!(
            swapped_first.validate(),
            Err(KeySetError::AggregateMismatch)
        );
        let mut wrong_aggregate = good.clone();
        wrong_aggregate.aggregate = other.aggregate.clone();
        assert_eq!(
            wrong_aggregate.validate(),
            Err(KeySetError::AggregateMismatch)
        );
        let mut dup = good.clone();
        dup.authorities[1].index = dup.authorities[0].index;
        assert!(matches!(
            dup.validate(),
            Err(KeySetError::DuplicateIndex(_))
        ));
        let mut t0 = good;
        t0.threshold = 4;
        assert!(matches!(t0.validate(), Err(KeySetError::Threshold { .. })));
    }

    #[test]
    fn every_partial_key_is_checked_not_only_the_first_and_last_threshold() {
        // Five authorities, threshold 2: the first two and the last two are consistent, the
        // middle one (index 3) is not. Checking only the ends would let it through.
        let mut rng = StdRng::seed_from_u64(11);
        let good = key_set(2, 5, &mut rng);
        let other = key_set(2, 5, &mut rng);
        for middle in 2..4 {
            let mut tampered = good.clone();
            tampered.authorities[middle] = other.authorities[middle].clone();
            assert_eq!(
                tampered.validate(),
                Err(KeySetError::OffPolynomial(
                    tampered.authorities[middle].index
                ))
            );
        }
        // Threshold 1: every authority holds the aggregate itself.
        let single = key_set(1, 3, &mut rng);
        single.validate().unwrap();
        let mut tampered = single.clone();
        tampered.authorities[1] = other.authorities[1].clone();
        assert_eq!(tampered.validate(), Err(KeySetError::OffPolynomial(2)));
    }

    #[test]
    fn digest_binds_request_and_public_attributes() {
        let mut rng = StdRng::seed_from_u64(9);
        let params = parameters();
        let private = PrivateAttributes::random(&mut rng);
        let public = PublicAttributes::bandwidth_voucher(1024);
        let (_, request) =
            prepare_blind_sign(&params, &private.scalars(), &public.scalars(), &mut rng).unwrap();
        let (_, other_request) =
            prepare_blind_sign(&params, &private.scalars(), &public.scalars(), &mut rng).unwrap();
        let d = request_digest(&request, &public);
        assert_eq!(d, request_digest(&request, &public));
        assert_ne!(d, request_digest(&other_request, &public));
        assert_ne!(
            d,
            request_digest(&request, &PublicAttributes::bandwidth_voucher(1025))
        );
        let mut renamed = public.clone();
        renamed.credential_type = "Other".into();
        assert_ne!(d, request_digest(&request, &renamed));
    }

    #[test]
    fn public_attribute_checks() {
        assert!(PublicAttributes::bandwidth_voucher(1).validate().is_ok());
        assert_eq!(
            PublicAttributes::bandwidth_voucher(0).validate(),
            Err(AttributeError::ZeroBandwidth)
        );
        for bad in ["", "with space", &"x".repeat(65)] {
            let p = PublicAttributes {
                bandwidth: 1,
                credential_type: bad.to_owned(),
            };
            assert_eq!(p.validate(), Err(AttributeError::BadType), "{bad:?}");
        }
    }
}
