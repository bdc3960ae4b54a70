//! The key a Nym registration derives: AES-256-GCM-SIV (RFC 8452), 32 bytes, random 12-byte
//! nonces, no associated data; derived by HKDF over HMAC-BLAKE3.

use aes_gcm_siv::aead::{Aead, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Key, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Nonce bytes.
pub const NONCE_LEN: usize = 12;
/// Tag bytes, after the ciphertext.
pub const TAG_LEN: usize = 16;
/// Salt bytes the client sends in its first handshake message.
pub const SALT_LEN: usize = 16;

/// A ciphertext that does not open under the key.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("ciphertext failed authentication under the client's shared key")]
pub struct OpenError;

/// A client's shared key at one gateway.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct NymSharedKey([u8; 32]);

impl std::fmt::Debug for NymSharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NymSharedKey(..)")
    }
}

impl NymSharedKey {
    /// The key of the stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes, to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HKDF (extract with `salt`, expand with empty info) over HMAC-BLAKE3 of a
    /// Diffie–Hellman output.
    pub fn derive(dh: &[u8; 32], salt: &[u8; SALT_LEN]) -> Self {
        let hkdf = hkdf::SimpleHkdf::<blake3::Hasher>::new(Some(salt), dh);
        let mut okm = [0u8; 32];
        hkdf.expand(&[], &mut okm)
            .expect("32 bytes is within HKDF's output limit");
        Self(okm)
    }

    fn cipher(&self) -> Aes256GcmSiv {
        Aes256GcmSiv::new(&Key::<Aes256GcmSiv>::from(self.0))
    }

    /// `plaintext` sealed under `nonce`: ciphertext ‖ tag.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        self.cipher()
            .encrypt(&Nonce::from(*nonce), plaintext)
            .expect("AES-GCM-SIV seals any message below 2^36 bytes")
    }

    /// Opens ciphertext ‖ tag sealed under `nonce`.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.cipher()
            .decrypt(&Nonce::from(*nonce), sealed)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8452, appendix C.2 (AEAD_AES_256_GCM_SIV), the vectors without associated data.
    #[test]
    fn rfc_8452_vectors() {
        let mut key = [0u8; 32];
        key[0] = 1;
        let key = NymSharedKey::from_bytes(key);
        let mut nonce = [0u8; 12];
        nonce[0] = 3;
        assert_eq!(
            key.seal(&nonce, &[]),
            hex("07f5f4169bbf55a8400cd47ea6fd400f")
        );
        assert_eq!(
            key.seal(&nonce, &hex("0100000000000000")),
            hex("c2ef328e5c71c83b843122130f7364b761e0b97427e3df28")
        );
        assert_eq!(
            key.open(
                &nonce,
                &hex("c2ef328e5c71c83b843122130f7364b761e0b97427e3df28")
            ),
            Ok(hex("0100000000000000"))
        );
    }

    #[test]
    fn a_changed_byte_or_nonce_does_not_open() {
        let key = NymSharedKey::from_bytes([7; 32]);
        let sealed = key.seal(&[1; 12], b"hello");
        assert_eq!(sealed.len(), 5 + TAG_LEN);
        assert_eq!(key.open(&[1; 12], &sealed).unwrap(), b"hello");
        assert_eq!(key.open(&[2; 12], &sealed), Err(OpenError));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(key.open(&[1; 12], &bad), Err(OpenError), "byte {i}");
        }
        assert_eq!(key.open(&[1; 12], &sealed[..TAG_LEN - 1]), Err(OpenError));
    }
}
