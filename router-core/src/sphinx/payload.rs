//! The payload half of a hop: one Lioness decryption in place.
//!
//! Lioness here is ChaCha20 with BLAKE2b-256 keyed as the hash (the `lioness-rs` construction
//! that `sphinx-packet` uses), so a 192-byte key is `k1 (32) | k2 (64) | k3 (32) | k4 (64)`.
//! It is a wide-block cipher: any change to a payload garbles the whole of it, which is what
//! lets the recipient detect tagging attacks on the payload.

use blake2::digest::consts::U32;
use lioness_rs::KeyInit;

use super::constants::PAYLOAD_KEY_SIZE;

type PayloadCipher = lioness_rs::Lioness<chacha20::ChaCha20, blake2::Blake2bMac<U32>>;

/// Removes one layer of Lioness from `payload`. Returns `false` only for a payload no longer
/// than one BLAKE2b output (32 bytes), which no Sphinx packet size has.
pub(crate) fn peel_payload(payload: &mut [u8], key: &[u8; PAYLOAD_KEY_SIZE]) -> bool {
    // `Lioness` zeroizes its sub-keys when dropped.
    let cipher = PayloadCipher::new(key.into());
    cipher.decrypt_block(payload).is_ok()
}
