//! Byte, hex and serde encodings of the DKG's wire types, in the format of
//! [`crate::coconut::encoding`]: G1 48-byte and G2 96-byte compressed points (decoding checks
//! the curve and the subgroup), 32-byte canonical little-endian scalars, `u32` little-endian
//! counts, `u64` little-endian indices.
//!
//! | type | layout |
//! | --- | --- |
//! | [`DkgPublicKey`] | `pk` (G1) |
//! | [`DleqProof`] | `c ‖ z` |
//! | [`Disclosure`] | `dealer:u64 ‖ receiver:u64 ‖ K (G1) ‖ c ‖ z` |
//! | [`Dealing`] | `dealer:u64 ‖ R ‖ rows:u32 ‖ cols:u32 ‖ C[rows][cols] ‖ n:u32 ‖ len:u32 ‖ ct[n][len]` |
//! | [`Opening`] | `dealer:u64 ‖ q:u32 ‖ t:u32 ‖ x[t] (G2) ‖ ys_g2[q][t] (G2) ‖ ys_g1[q][t] (G1)` |
//!
//! Decoding never panics and refuses wrong lengths, invalid points, non-canonical scalars,
//! trailing bytes and counts above [`MAX_SECRETS`] / [`MAX_PARTICIPANTS`] (so a forged count
//! cannot make it allocate much). It checks only the encoding: shapes against the parameters
//! are checked by `check_public`. Serde is one lower-case hex string of the bytes (linear to decode, unlike base58).

use bls12_381::{G1Affine, G1Projective};

use super::dealing::Dealing;
use super::encryption::{Disclosure, DkgPublicKey, DleqProof};
use super::error::DkgError;
use super::opening::Opening;
use super::params::{MAX_PARTICIPANTS, MAX_SECRETS};
use crate::coconut::encoding::{
    put_count, put_g1, put_g2, put_scalar, Reader, COUNT_BYTES, G1_BYTES, G2_BYTES, SCALAR_BYTES,
};

/// Bytes of an index.
const INDEX_BYTES: usize = 8;

/// Largest ciphertext accepted: `2 · MAX_SECRETS` scalars.
const MAX_CIPHERTEXT_BYTES: usize = 2 * MAX_SECRETS * SCALAR_BYTES;

fn put_index(out: &mut Vec<u8>, index: u64) {
    out.extend_from_slice(&index.to_le_bytes());
}

fn read_index(reader: &mut Reader<'_>) -> Result<u64, DkgError> {
    Ok(u64::from_le_bytes(reader.take::<INDEX_BYTES>()?))
}

/// Reads a `u32` count and refuses it above `max`.
fn read_bounded(
    reader: &mut Reader<'_>,
    what: &'static str,
    max: usize,
) -> Result<usize, DkgError> {
    let count = u32::from_le_bytes(reader.take::<COUNT_BYTES>()?);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > max {
        return Err(DkgError::TooLarge {
            what,
            max,
            actual: count,
        });
    }
    Ok(count)
}

fn read_proof(reader: &mut Reader<'_>) -> Result<DleqProof, DkgError> {
    Ok(DleqProof {
        challenge: reader.scalar()?,
        response: reader.scalar()?,
    })
}

impl DkgPublicKey {
    /// Encoded length.
    pub const BYTES: usize = G1_BYTES;

    /// The compressed point.
    pub fn to_bytes(&self) -> [u8; G1_BYTES] {
        self.0.to_compressed()
    }

    /// Decodes [`DkgPublicKey::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        let mut reader = Reader::new(bytes, "DkgPublicKey");
        let point = reader.g1()?;
        reader.finish()?;
        Ok(DkgPublicKey(G1Affine::from(point)))
    }
}

impl DleqProof {
    /// Encoded length.
    pub const BYTES: usize = 2 * SCALAR_BYTES;

    /// `c ‖ z`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::BYTES);
        put_scalar(&mut out, &self.challenge);
        put_scalar(&mut out, &self.response);
        out
    }

    /// Decodes [`DleqProof::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        let mut reader = Reader::new(bytes, "DleqProof");
        let proof = read_proof(&mut reader)?;
        reader.finish()?;
        Ok(proof)
    }
}

impl Disclosure {
    /// Encoded length.
    pub const BYTES: usize = 2 * INDEX_BYTES + G1_BYTES + DleqProof::BYTES;

    /// `dealer ‖ receiver ‖ K ‖ c ‖ z`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::BYTES);
        put_index(&mut out, self.dealer);
        put_index(&mut out, self.receiver);
        put_g1(&mut out, &self.key);
        put_scalar(&mut out, &self.proof.challenge);
        put_scalar(&mut out, &self.proof.response);
        out
    }

    /// Decodes [`Disclosure::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        let mut reader = Reader::new(bytes, "Disclosure");
        let disclosure = Disclosure {
            dealer: read_index(&mut reader)?,
            receiver: read_index(&mut reader)?,
            key: reader.g1()?,
            proof: read_proof(&mut reader)?,
        };
        reader.finish()?;
        Ok(disclosure)
    }
}

impl Dealing {
    /// `dealer ‖ R ‖ rows ‖ cols ‖ C[rows][cols] ‖ n ‖ len ‖ ct[n][len]`. Every ciphertext
    /// of a dealing has the same length; the length of the first is written.
    pub fn to_bytes(&self) -> Vec<u8> {
        let rows = self.commitments.len();
        let cols = self.commitments.first().map_or(0, Vec::len);
        let len = self.ciphertexts.first().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(
            INDEX_BYTES
                + G1_BYTES
                + 4 * COUNT_BYTES
                + rows * cols * G1_BYTES
                + self.ciphertexts.len() * len,
        );
        put_index(&mut out, self.dealer);
        put_g1(&mut out, &self.ephemeral);
        put_count(&mut out, rows);
        put_count(&mut out, cols);
        for row in &self.commitments {
            // Rows built here all have `cols` entries; pad or cut defensively so the encoding
            // always parses.
            for k in 0..cols {
                put_g1(&mut out, &row.get(k).copied().unwrap_or_default());
            }
        }
        put_count(&mut out, self.ciphertexts.len());
        put_count(&mut out, len);
        for ciphertext in &self.ciphertexts {
            let mut fixed = ciphertext.clone();
            fixed.resize(len, 0);
            out.extend_from_slice(&fixed);
        }
        out
    }

    /// Decodes [`Dealing::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        let mut reader = Reader::new(bytes, "Dealing");
        let dealer = read_index(&mut reader)?;
        let ephemeral = reader.g1()?;
        let rows = read_bounded(&mut reader, "Dealing commitment rows", MAX_SECRETS)?;
        let cols = read_bounded(&mut reader, "Dealing commitments per row", MAX_PARTICIPANTS)?;
        let mut commitments = Vec::with_capacity(rows);
        for _ in 0..rows {
            commitments.push(reader.many(cols, Reader::g1)?);
        }
        let n = read_bounded(&mut reader, "Dealing ciphertexts", MAX_PARTICIPANTS)?;
        let len = read_bounded(
            &mut reader,
            "Dealing ciphertext bytes",
            MAX_CIPHERTEXT_BYTES,
        )?;
        let mut ciphertexts = Vec::with_capacity(n);
        for _ in 0..n {
            ciphertexts.push(reader.slice(len)?.to_vec());
        }
        reader.finish()?;
        Ok(Dealing {
            dealer,
            ephemeral,
            commitments,
            ciphertexts,
        })
    }
}

impl Opening {
    /// `dealer ‖ q ‖ t ‖ x[t] ‖ ys_g2[q][t] ‖ ys_g1[q][t]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let t = self.x.len();
        let q = self.ys_g2.len();
        let mut out = Vec::with_capacity(
            INDEX_BYTES + 2 * COUNT_BYTES + t * G2_BYTES + q * t * (G1_BYTES + G2_BYTES),
        );
        put_index(&mut out, self.dealer);
        put_count(&mut out, q);
        put_count(&mut out, t);
        self.x.iter().for_each(|a| put_g2(&mut out, a));
        // Rows built here all have `t` entries (and `ys_g1` has `q` rows); pad or cut
        // defensively so the encoding always parses.
        for row in &self.ys_g2 {
            for k in 0..t {
                put_g2(&mut out, &row.get(k).copied().unwrap_or_default());
            }
        }
        for s in 0..q {
            let row = self.ys_g1.get(s);
            for k in 0..t {
                let point = row.and_then(|r| r.get(k)).copied();
                put_g1(&mut out, &point.unwrap_or(G1Projective::identity()));
            }
        }
        out
    }

    /// Decodes [`Opening::to_bytes`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        let mut reader = Reader::new(bytes, "Opening");
        let dealer = read_index(&mut reader)?;
        let q = read_bounded(&mut reader, "Opening attributes", MAX_SECRETS)?;
        let t = read_bounded(&mut reader, "Opening coefficients", MAX_PARTICIPANTS)?;
        let x = reader.many(t, Reader::g2)?;
        let mut ys_g2 = Vec::with_capacity(q);
        for _ in 0..q {
            ys_g2.push(reader.many(t, Reader::g2)?);
        }
        let mut ys_g1 = Vec::with_capacity(q);
        for _ in 0..q {
            ys_g1.push(reader.many(t, Reader::g1)?);
        }
        reader.finish()?;
        Ok(Opening {
            dealer,
            x,
            ys_g2,
            ys_g1,
        })
    }
}

/// Lower-case hex of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex (either case); refuses odd lengths and non-hex characters.
fn from_hex(text: &str) -> Result<Vec<u8>, DkgError> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(DkgError::InvalidHex("odd length".into()));
    }
    bytes
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(DkgError::InvalidHex(format!(
                "not a hex digit at position {}",
                2 * i
            ))),
        })
        .collect()
}

/// Adds `to_hex` / `try_from_hex` and hex-string serde impls. Hex, not the base58 of the
/// Coconut types: these are kilobytes, and base58's cost grows with the square of the
/// length (a validator decodes every dealing of every block it receives).
macro_rules! impl_dkg_hex_serde {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Lower-case hex of the byte encoding.
            pub fn to_hex(&self) -> String {
                to_hex(&self.to_bytes()[..])
            }

            /// Decodes [`Self::to_hex`].
            pub fn try_from_hex(encoded: &str) -> Result<Self, DkgError> {
                Self::try_from_bytes(&from_hex(encoded)?)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> core::result::Result<Self, D::Error> {
                let encoded = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                Self::try_from_hex(&encoded).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

impl_dkg_hex_serde!(DkgPublicKey, DleqProof, Disclosure, Dealing, Opening);
