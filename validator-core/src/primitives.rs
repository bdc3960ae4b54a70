//! Shared primitives: key and hash types with their text encodings, and the canonical binary
//! encoder used for every byte string that is hashed or signed.
//!
//! Text encodings (JSON, TOML): ed25519 and x25519 public keys and ed25519 signatures are
//! base58 (Bitcoin alphabet) strings; 32-byte hashes and digests are lowercase hex strings.
//!
//! Binary encodings (what is hashed and signed) never go through serde: a crate-internal
//! encoder writes them in a format fixed here, so that any implementation can reproduce it:
//! integers are big-endian and fixed-width, keys and hashes are their raw 32 bytes, signatures
//! their raw 64 bytes, and every variable-length item (string, list) is preceded by its length
//! (byte count or element count) as a `u64`. Every hashed or signed message starts with a
//! distinct ASCII domain-separation prefix, so no message of one kind can be read as another.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a key, signature or hash string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The string is not base58.
    #[error("not valid base58: {0}")]
    Base58(String),
    /// The string is not lowercase/uppercase hex of the right length.
    #[error("not valid hex: {0}")]
    Hex(String),
    /// The decoded value has the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Required length in bytes.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// The 32 bytes do not encode a point on the ed25519 curve.
    #[error("not a valid ed25519 public key (not a curve point)")]
    NotACurvePoint,
    /// The 32 bytes encode a point, but not in its canonical encoding.
    #[error("non-canonical ed25519 public key encoding")]
    NonCanonical,
    /// The key is a small-order point, for which signatures can be forged.
    #[error("weak ed25519 public key (small-order point)")]
    WeakKey,
    /// The x25519 key is one of the low-order points, which give an all-zero shared secret.
    #[error("low-order x25519 public key")]
    LowOrderX25519,
}

/// Decodes base58 into exactly `N` bytes, refusing overlong input before decoding it.
fn bs58_fixed<const N: usize>(s: &str) -> Result<[u8; N], KeyError> {
    // Every base58 character carries more than 5 bits, so 2 characters per byte is a generous
    // bound; anything longer cannot fit and is refused before decoding.
    if s.len() > 2 * N {
        return Err(KeyError::Length {
            expected: N,
            got: s.len() * 3 / 4,
        });
    }
    let bytes = bs58::decode(s)
        .into_vec()
        .map_err(|e| KeyError::Base58(e.to_string()))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length {
        expected: N,
        got: bytes.len(),
    })
}

/// An ed25519 public key: an account, a node identity or a validator identity.
///
/// Only canonical encodings of points that are not of small order are accepted, so two
/// distinct values never denote the same key and signature forgery by a weak key is impossible.
/// Stored as its 32 bytes (validated on construction) and ordered by them; that order is the
/// canonical order used throughout the crate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey([u8; 32]);

impl IdentityKey {
    /// Parses raw key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotACurvePoint)?;
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err(KeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(*bytes))
    }

    /// Parses a base58 string.
    pub fn from_bs58(s: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&bs58_fixed::<32>(s)?)
    }

    /// Base58 text form.
    pub fn to_bs58(&self) -> String {
        bs58::encode(&self.0).into_string()
    }

    /// Raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The ed25519-dalek key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.0)
            .expect("IdentityKey bytes were checked to decompress when it was constructed")
    }

    /// Strict ed25519 verification (rejects non-canonical and small-order `R`).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        VerifyingKey::from_bytes(&self.0)
            .is_ok_and(|key| key.verify_strict(message, signature).is_ok())
    }
}

impl From<&SigningKey> for IdentityKey {
    /// The public half of a signing key. The public key of a signing key is a multiple of the
    /// prime-order base point by a clamped nonzero scalar, so it is never weak.
    fn from(key: &SigningKey) -> Self {
        Self(key.verifying_key().to_bytes())
    }
}

impl TryFrom<VerifyingKey> for IdentityKey {
    type Error = KeyError;
    fn try_from(key: VerifyingKey) -> Result<Self, KeyError> {
        Self::from_bytes(key.as_bytes())
    }
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_bs58())
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.to_bs58())
    }
}

impl FromStr for IdentityKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_bs58(s)
    }
}

impl Serialize for IdentityKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_bs58())
    }
}

impl<'de> Deserialize<'de> for IdentityKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_bs58(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid ed25519 key `{s}`: {e}")))
    }
}

/// The low-order points of Curve25519 in Montgomery form (with the top bit cleared, as X25519
/// ignores it): 0, 1, the two points of order 8, and the non-canonical encodings p-1, p, p+1.
/// A Diffie-Hellman with any of them yields a shared secret independent of the private key.
const X25519_LOW_ORDER: [[u8; 32]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// An x25519 public key type, as its 32 raw bytes, with base58 text and serde forms.
macro_rules! x25519_key_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Low-order points are refused (see [`KeyError::LowOrderX25519`]); any other 32 bytes
        /// are a usable X25519 public key.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw key bytes, refusing low-order points.
            pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
                let mut masked = bytes;
                masked[31] &= 0x7f;
                if X25519_LOW_ORDER.contains(&masked) {
                    return Err(KeyError::LowOrderX25519);
                }
                Ok(Self(bytes))
            }

            /// Parses a base58 string.
            pub fn from_bs58(s: &str) -> Result<Self, KeyError> {
                Self::from_bytes(bs58_fixed::<32>(s)?)
            }

            /// Base58 text form.
            pub fn to_bs58(&self) -> String {
                bs58::encode(&self.0).into_string()
            }

            /// Raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_bs58())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_bs58())
            }
        }

        impl FromStr for $name {
            type Err = KeyError;
            fn from_str(s: &str) -> Result<Self, KeyError> {
                Self::from_bs58(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_bs58())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_bs58(&s)
                    .map_err(|e| serde::de::Error::custom(format!("invalid x25519 key `{s}`: {e}")))
            }
        }
    };
}

x25519_key_type!(
    SphinxKey,
    "An x25519 public key (a node's Sphinx key), as its 32 raw bytes."
);
x25519_key_type!(
    NoiseKey,
    "An x25519 public key (a node's static Noise key for its links), as its 32 raw bytes."
);

/// Serde adapter encoding an ed25519 [`Signature`] as a base58 string
/// (`#[serde(with = "crate::primitives::signature_bs58")]`).
pub mod signature_bs58 {
    use ed25519_dalek::Signature;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as base58 of the 64 signature bytes.
    pub fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&bs58::encode(sig.to_bytes()).into_string())
    }

    /// Parses base58 of exactly 64 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = super::bs58_fixed::<64>(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid signature: {e}")))?;
        Ok(Signature::from_bytes(&bytes))
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses hex (either case) of exactly 32 bytes.
pub(crate) fn from_hex32(s: &str) -> Result<[u8; 32], KeyError> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if s.len() != 64 {
        return Err(KeyError::Length {
            expected: 32,
            got: s.len() / 2,
        });
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        match (
            pair.first().copied().and_then(nibble),
            pair.get(1).copied().and_then(nibble),
        ) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => return Err(KeyError::Hex(format!("invalid hex digits in `{s}`"))),
        }
    }
    Ok(out)
}

/// Declares a 32-byte hash newtype, hex in text, ordered by its bytes.
macro_rules! hash32_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// Raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Lowercase hex text form.
            pub fn to_hex(&self) -> String {
                $crate::primitives::to_hex(&self.0)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::primitives::KeyError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::primitives::from_hex32(s).map(Self)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(|e| {
                    ::serde::de::Error::custom(format!(
                        "invalid {} `{s}`: {e}",
                        stringify!($name)
                    ))
                })
            }
        }
    };
}
pub(crate) use hash32_type;

/// Builder of canonical binary encodings (see the module docs for the format).
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// Starts an encoding with its domain-separation prefix.
    pub(crate) fn new(domain: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(domain);
        Self { buf }
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A length or element count, as a `u64`.
    pub(crate) fn count(&mut self, n: usize) -> &mut Self {
        // usize is at most 64 bits on every supported target, so this cast is lossless.
        self.u64(n as u64)
    }

    /// Fixed-size bytes, without a length prefix.
    pub(crate) fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.count(s.len());
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// An optional string: `0x00`, or `0x01` followed by the length-prefixed string.
    pub(crate) fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.u8(0),
            Some(s) => self.u8(1).str(s),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::montgomery::MontgomeryPoint;

    #[test]
    fn identity_key_roundtrips_and_orders_by_bytes() {
        let a = IdentityKey::from(&SigningKey::from_bytes(&[1; 32]));
        let b = IdentityKey::from(&SigningKey::from_bytes(&[2; 32]));
        assert_eq!(IdentityKey::from_bs58(&a.to_bs58()).unwrap(), a);
        assert_eq!(a.cmp(&b), a.as_bytes().cmp(b.as_bytes()));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{}\"", a.to_bs58()));
        assert_eq!(serde_json::from_str::<IdentityKey>(&json).unwrap(), a);
    }

    #[test]
    fn identity_key_rejects_bad_input() {
        assert!(matches!(
            IdentityKey::from_bs58("0OIl"),
            Err(KeyError::Base58(_))
        ));
        let short = bs58::encode([7u8; 31]).into_string();
        assert_eq!(
            IdentityKey::from_bs58(&short),
            Err(KeyError::Length {
                expected: 32,
                got: 31
            })
        );
        let long = bs58::encode([7u8; 40]).into_string();
        assert_eq!(
            IdentityKey::from_bs58(&long),
            Err(KeyError::Length {
                expected: 32,
                got: 40
            })
        );
        let huge = "2".repeat(1000);
        assert!(matches!(
            IdentityKey::from_bs58(&huge),
            Err(KeyError::Length { .. })
        ));
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(IdentityKey::from_bytes(&identity), Err(KeyError::WeakKey));
        // y = p + 1 is a non-canonical encoding of the same point.
        let mut noncanonical = [0xffu8; 32];
        noncanonical[0] = 0xee;
        noncanonical[31] = 0x7f;
        assert!(IdentityKey::from_bytes(&noncanonical).is_err());
    }

    #[test]
    fn low_order_x25519_points_are_refused_and_really_are_low_order() {
        for point in X25519_LOW_ORDER {
            // Clamped scalars are multiples of 8, so a low-order point always maps to zero.
            let shared = MontgomeryPoint(point).mul_clamped([0x42; 32]);
            assert_eq!(shared.to_bytes(), [0u8; 32], "{point:?} is not low-order");
            assert_eq!(SphinxKey::from_bytes(point), Err(KeyError::LowOrderX25519));
            let mut high = point;
            high[31] |= 0x80;
            assert_eq!(SphinxKey::from_bytes(high), Err(KeyError::LowOrderX25519));
        }
        let good = MontgomeryPoint::mul_base_clamped([9; 32]).to_bytes();
        let key = SphinxKey::from_bytes(good).unwrap();
        assert_eq!(SphinxKey::from_bs58(&key.to_bs58()).unwrap(), key);
    }

    #[test]
    fn hex_roundtrip_and_errors() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(from_hex32(&to_hex(&bytes)).unwrap(), bytes);
        assert_eq!(from_hex32(&to_hex(&bytes).to_uppercase()).unwrap(), bytes);
        assert!(matches!(from_hex32("zz"), Err(KeyError::Length { .. })));
        assert!(matches!(from_hex32(&"g".repeat(64)), Err(KeyError::Hex(_))));
    }

    #[test]
    fn signature_bs58_roundtrip() {
        #[derive(Serialize, Deserialize)]
        struct W(#[serde(with = "signature_bs58")] Signature);
        let sig = Signature::from_bytes(&[3; 64]);
        let json = serde_json::to_string(&W(sig)).unwrap();
        assert_eq!(serde_json::from_str::<W>(&json).unwrap().0, sig);
        assert!(serde_json::from_str::<W>("\"abc\"").is_err());
    }
}
