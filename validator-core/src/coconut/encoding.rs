//! Byte and serde encodings of every wire type.
//!
//! # Byte format
//! Fixed-size fields are concatenated without separators:
//! G1 points are 48-byte and G2 points 96-byte *compressed* encodings (the zkcrypto / ZCash
//! BLS12-381 format, which decoding checks for being on the curve and in the prime-order
//! subgroup); scalars are their 32-byte canonical little-endian encoding (non-canonical values
//! are rejected). A variable-length list is a `u32` little-endian count followed by its items.
//! Decoding never panics: wrong lengths, invalid points, non-canonical scalars and trailing
//! bytes are all reported as [`CoconutError`]s.
//!
//! | type | layout |
//! | --- | --- |
//! | [`Signature`], [`BlindedSignature`] | `h ‖ s` (G1 ‖ G1) |
//! | [`VerificationKey`] | `alpha ‖ n ‖ beta_g1[n] ‖ beta_g2[n]` |
//! | [`SecretKey`] | `x ‖ n ‖ y[n]` |
//! | [`BlindSignProof`] | `c ‖ r_r ‖ n ‖ r_o[n] ‖ r_m[n]` |
//! | [`BlindSignRequest`] | `cm ‖ h ‖ n ‖ c_j[n] ‖ pi_s` (`pi_s` must also have `n`) |
//! | [`CredentialProof`] | `c ‖ r_r ‖ n ‖ r_m[n]` |
//! | [`Theta`] | `kappa ‖ zeta ‖ h' ‖ s' ‖ pi_v` |
//! | [`CommitmentOpenings`] | `r ‖ n ‖ o[n]` |
//!
//! # Serde
//! Every wire type serialises as one **base58** string (Bitcoin alphabet, via `bs58`) of its
//! byte encoding, which is compact, unambiguous in JSON/TOML and what the rest of the mixnet
//! uses for keys. The same string is available through `to_bs58` / `try_from_bs58`. For
//! secret types the intermediate buffers are zeroized.

use bls12_381::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use zeroize::Zeroizing;

use super::error::{CoconutError, Result};
use super::issuance::{BlindSignRequest, CommitmentOpenings};
use super::keygen::{SecretKey, VerificationKey};
use super::proofs::{BlindSignProof, CredentialProof};
use super::signature::{BlindedSignature, Signature};
use super::verification::Theta;

/// Length of a compressed G1 point.
pub const G1_BYTES: usize = 48;
/// Length of a compressed G2 point.
pub const G2_BYTES: usize = 96;
/// Length of a scalar.
pub const SCALAR_BYTES: usize = 32;
/// Length of a list count.
pub(crate) const COUNT_BYTES: usize = 4;

pub(crate) fn put_g1(out: &mut Vec<u8>, point: &G1Projective) {
    out.extend_from_slice(&G1Affine::from(point).to_compressed());
}

pub(crate) fn put_g2(out: &mut Vec<u8>, point: &G2Projective) {
    out.extend_from_slice(&G2Affine::from(point).to_compressed());
}

pub(crate) fn put_scalar(out: &mut Vec<u8>, scalar: &Scalar) {
    out.extend_from_slice(&scalar.to_bytes());
}

/// Writes a list count. Lists longer than `u32::MAX` cannot be built by this module (they would
/// need more attributes than memory allows), so saturating is never observable.
pub(crate) fn put_count(out: &mut Vec<u8>, count: usize) {
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_le_bytes());
}

/// A cursor over untrusted bytes that reports errors instead of panicking.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let invalid = CoconutError::InvalidLength {
            what: self.what,
            expected: N,
            actual: self.bytes.len(),
        };
        let (head, rest) = self.bytes.split_at_checked(N).ok_or(invalid)?;
        self.bytes = rest;
        <[u8; N]>::try_from(head).map_err(|_| CoconutError::InvalidLength {
            what: self.what,
            expected: N,
            actual: head.len(),
        })
    }

    /// The next `len` bytes as a slice.
    pub(crate) fn slice(&mut self, len: usize) -> Result<&'a [u8]> {
        let (head, rest) = self
            .bytes
            .split_at_checked(len)
            .ok_or(CoconutError::InvalidLength {
                what: self.what,
                expected: len,
                actual: self.bytes.len(),
            })?;
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn g1(&mut self) -> Result<G1Projective> {
        let bytes = self.take::<G1_BYTES>()?;
        Option::<G1Affine>::from(G1Affine::from_compressed(&bytes))
            .map(G1Projective::from)
            .ok_or(CoconutError::InvalidPoint { what: self.what })
    }

    pub(crate) fn g2(&mut self) -> Result<G2Projective> {
        let bytes = self.take::<G2_BYTES>()?;
        Option::<G2Affine>::from(G2Affine::from_compressed(&bytes))
            .map(G2Projective::from)
            .ok_or(CoconutError::InvalidPoint { what: self.what })
    }

    pub(crate) fn scalar(&mut self) -> Result<Scalar> {
        let bytes = Zeroizing::new(self.take::<SCALAR_BYTES>()?);
        Option::<Scalar>::from(Scalar::from_bytes(&bytes))
            .ok_or(CoconutError::InvalidScalar { what: self.what })
    }

    /// Reads a list count, checking that `count` items of `item_bytes` bytes each can still
    /// follow, so that a forged count cannot trigger a huge allocation.
    pub(crate) fn count(&mut self, item_bytes: usize) -> Result<usize> {
        let count = u32::from_le_bytes(self.take::<COUNT_BYTES>()?);
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let needed = count.saturating_mul(item_bytes);
        if needed > self.bytes.len() {
            return Err(CoconutError::InvalidLength {
                what: self.what,
                expected: needed,
                actual: self.bytes.len(),
            });
        }
        Ok(count)
    }

    pub(crate) fn many<T>(
        &mut self,
        count: usize,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        (0..count).map(|_| item(self)).collect()
    }

    pub(crate) fn finish(self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(CoconutError::TrailingBytes {
                what: self.what,
                extra: self.bytes.len(),
            })
        }
    }
}

impl Signature {
    /// Encoded length.
    pub const BYTES: usize = 2 * G1_BYTES;

    /// `h ‖ s`, compressed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::BYTES);
        put_g1(&mut out, &self.h);
        put_g1(&mut out, &self.s);
        out
    }

    /// Decodes [`Signature::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "Signature");
        let signature = read_signature(&mut reader)?;
        reader.finish()?;
        Ok(signature)
    }
}

fn read_signature(reader: &mut Reader<'_>) -> Result<Signature> {
    Ok(Signature {
        h: reader.g1()?,
        s: reader.g1()?,
    })
}

impl BlindedSignature {
    /// Encoded length.
    pub const BYTES: usize = 2 * G1_BYTES;

    /// `h ‖ c`, compressed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::BYTES);
        put_g1(&mut out, &self.h);
        put_g1(&mut out, &self.c);
        out
    }

    /// Decodes [`BlindedSignature::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "BlindedSignature");
        let blinded = BlindedSignature {
            h: reader.g1()?,
            c: reader.g1()?,
        };
        reader.finish()?;
        Ok(blinded)
    }
}

impl VerificationKey {
    /// `alpha ‖ n ‖ beta_g1[n] ‖ beta_g2[n]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.beta_g2.len();
        let mut out = Vec::with_capacity(G2_BYTES + COUNT_BYTES + n * (G1_BYTES + G2_BYTES));
        put_g2(&mut out, &self.alpha);
        put_count(&mut out, n);
        self.beta_g1.iter().for_each(|beta| put_g1(&mut out, beta));
        self.beta_g2.iter().for_each(|beta| put_g2(&mut out, beta));
        out
    }

    /// Decodes [`VerificationKey::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "VerificationKey");
        let alpha = reader.g2()?;
        let n = reader.count(G1_BYTES + G2_BYTES)?;
        let beta_g1 = reader.many(n, Reader::g1)?;
        let beta_g2 = reader.many(n, Reader::g2)?;
        reader.finish()?;
        Ok(VerificationKey {
            alpha,
            beta_g1,
            beta_g2,
        })
    }
}

impl SecretKey {
    /// `x ‖ n ‖ y[n]`, in a buffer that is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            SCALAR_BYTES + COUNT_BYTES + self.ys.len() * SCALAR_BYTES,
        ));
        put_scalar(&mut out, &self.x);
        put_count(&mut out, self.ys.len());
        self.ys.iter().for_each(|y| put_scalar(&mut out, y));
        out
    }

    /// Decodes [`SecretKey::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "SecretKey");
        let x = reader.scalar()?;
        let n = reader.count(SCALAR_BYTES)?;
        let ys = reader.many(n, Reader::scalar)?;
        reader.finish()?;
        Ok(SecretKey { x, ys })
    }
}

impl BlindSignProof {
    /// `c ‖ r_r ‖ n ‖ r_o[n] ‖ r_m[n]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.response_attributes.len();
        let mut out = Vec::with_capacity(2 * SCALAR_BYTES + COUNT_BYTES + 2 * n * SCALAR_BYTES);
        write_blind_sign_proof(&mut out, self);
        out
    }

    /// Decodes [`BlindSignProof::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "BlindSignProof");
        let proof = read_blind_sign_proof(&mut reader)?;
        reader.finish()?;
        Ok(proof)
    }
}

fn write_blind_sign_proof(out: &mut Vec<u8>, proof: &BlindSignProof) {
    put_scalar(out, &proof.challenge);
    put_scalar(out, &proof.response_opening);
    // Both response lists have one entry per private attribute; `to_bytes` of a proof built by
    // this module always has them equal, and decoding enforces it.
    let n = proof
        .response_attributes
        .len()
        .min(proof.response_attribute_openings.len());
    put_count(out, n);
    proof
        .response_attribute_openings
        .iter()
        .take(n)
        .for_each(|r| put_scalar(out, r));
    proof
        .response_attributes
        .iter()
        .take(n)
        .for_each(|r| put_scalar(out, r));
}

fn read_blind_sign_proof(reader: &mut Reader<'_>) -> Result<BlindSignProof> {
    let challenge = reader.scalar()?;
    let response_opening = reader.scalar()?;
    let n = reader.count(2 * SCALAR_BYTES)?;
    let response_attribute_openings = reader.many(n, Reader::scalar)?;
    let response_attributes = reader.many(n, Reader::scalar)?;
    Ok(BlindSignProof {
        challenge,
        response_opening,
        response_attribute_openings,
        response_attributes,
    })
}

impl BlindSignRequest {
    /// `cm ‖ h ‖ n ‖ c_j[n] ‖ pi_s`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.private_attributes_commitments.len();
        let mut out = Vec::with_capacity(
            2 * G1_BYTES + 2 * COUNT_BYTES + n * G1_BYTES + 2 * SCALAR_BYTES + 2 * n * SCALAR_BYTES,
        );
        put_g1(&mut out, &self.commitment);
        put_g1(&mut out, &self.commitment_hash);
        put_count(&mut out, n);
        self.private_attributes_commitments
            .iter()
            .for_each(|c| put_g1(&mut out, c));
        write_blind_sign_proof(&mut out, &self.pi_s);
        out
    }

    /// Decodes [`BlindSignRequest::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "BlindSignRequest");
        let commitment = reader.g1()?;
        let commitment_hash = reader.g1()?;
        let n = reader.count(G1_BYTES)?;
        let private_attributes_commitments = reader.many(n, Reader::g1)?;
        let pi_s = read_blind_sign_proof(&mut reader)?;
        reader.finish()?;
        if pi_s.response_attributes.len() != n {
            return Err(CoconutError::LengthMismatch {
                what: "BlindSignRequest commitments and proof responses",
                expected: n,
                actual: pi_s.response_attributes.len(),
            });
        }
        Ok(BlindSignRequest {
            commitment,
            commitment_hash,
            private_attributes_commitments,
            pi_s,
        })
    }
}

impl CredentialProof {
    /// `c ‖ r_r ‖ n ‖ r_m[n]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.response_attributes.len();
        let mut out = Vec::with_capacity(2 * SCALAR_BYTES + COUNT_BYTES + n * SCALAR_BYTES);
        write_credential_proof(&mut out, self);
        out
    }

    /// Decodes [`CredentialProof::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "CredentialProof");
        let proof = read_credential_proof(&mut reader)?;
        reader.finish()?;
        Ok(proof)
    }
}

fn write_credential_proof(out: &mut Vec<u8>, proof: &CredentialProof) {
    put_scalar(out, &proof.challenge);
    put_scalar(out, &proof.response_blinder);
    put_count(out, proof.response_attributes.len());
    proof
        .response_attributes
        .iter()
        .for_each(|r| put_scalar(out, r));
}

fn read_credential_proof(reader: &mut Reader<'_>) -> Result<CredentialProof> {
    let challenge = reader.scalar()?;
    let response_blinder = reader.scalar()?;
    let n = reader.count(SCALAR_BYTES)?;
    let response_attributes = reader.many(n, Reader::scalar)?;
    Ok(CredentialProof {
        challenge,
        response_blinder,
        response_attributes,
    })
}

impl Theta {
    /// `kappa ‖ zeta ‖ h' ‖ s' ‖ pi_v`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.pi_v.response_attributes.len();
        let mut out = Vec::with_capacity(
            2 * G2_BYTES + Signature::BYTES + 2 * SCALAR_BYTES + COUNT_BYTES + n * SCALAR_BYTES,
        );
        put_g2(&mut out, &self.blinded_message);
        put_g2(&mut out, &self.blinded_serial_number);
        put_g1(&mut out, &self.credential.h);
        put_g1(&mut out, &self.credential.s);
        write_credential_proof(&mut out, &self.pi_v);
        out
    }

    /// Decodes [`Theta::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "Theta");
        let blinded_message = reader.g2()?;
        let blinded_serial_number = reader.g2()?;
        let credential = read_signature(&mut reader)?;
        let pi_v = read_credential_proof(&mut reader)?;
        reader.finish()?;
        Ok(Theta {
            blinded_message,
            blinded_serial_number,
            credential,
            pi_v,
        })
    }
}

impl CommitmentOpenings {
    /// `r ‖ n ‖ o[n]`, in a buffer that is zeroized when dropped (for a user who must keep a
    /// pending request across restarts).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let n = self.attribute_openings.len();
        let mut out = Zeroizing::new(Vec::with_capacity(SCALAR_BYTES * (n + 1) + COUNT_BYTES));
        put_scalar(&mut out, &self.commitment_opening);
        put_count(&mut out, n);
        self.attribute_openings
            .iter()
            .for_each(|o| put_scalar(&mut out, o));
        out
    }

    /// Decodes [`CommitmentOpenings::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, "CommitmentOpenings");
        let commitment_opening = reader.scalar()?;
        let n = reader.count(SCALAR_BYTES)?;
        let attribute_openings = reader.many(n, Reader::scalar)?;
        reader.finish()?;
        Ok(CommitmentOpenings {
            commitment_opening,
            attribute_openings,
        })
    }
}

fn decode_bs58(encoded: &str) -> Result<Zeroizing<Vec<u8>>> {
    bs58::decode(encoded)
        .into_vec()
        .map(Zeroizing::new)
        .map_err(|e| CoconutError::InvalidBase58(e.to_string()))
}

/// Adds `to_bs58` / `try_from_bs58` and base58-string serde impls to a type with
/// `to_bytes` / `try_from_bytes`.
macro_rules! impl_bs58_serde {
    ($($ty:ty => $string:ty),* $(,)?) => {$(
        impl $ty {
            /// Base58 (Bitcoin alphabet) of the byte encoding.
            pub fn to_bs58(&self) -> $string {
                let bytes = self.to_bytes();
                let bytes: &[u8] = &bytes;
                <$string>::from(bs58::encode(bytes).into_string())
            }

            /// Decodes [`Self::to_bs58`].
            pub fn try_from_bs58(encoded: &str) -> Result<Self> {
                Self::try_from_bytes(&decode_bs58(encoded)?)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> core::result::Result<S::Ok, S::Error> {
                let encoded = self.to_bs58();
                let encoded: &str = &encoded;
                serializer.serialize_str(encoded)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> core::result::Result<Self, D::Error> {
                let encoded = Zeroizing::new(<String as serde::Deserialize>::deserialize(deserializer)?);
                Self::try_from_bs58(&encoded).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

impl_bs58_serde! {
    Signature => String,
    BlindedSignature => String,
    VerificationKey => String,
    BlindSignProof => String,
    BlindSignRequest => String,
    CredentialProof => String,
    Theta => String,
    SecretKey => Zeroizing<String>,
    CommitmentOpenings => Zeroizing<String>,
}
