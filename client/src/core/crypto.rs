//! End-to-end encryption of fragments and of ack ids.
//!
//! - A fragment to a client's address is encrypted to its x25519 encryption key, so the
//!   recipient's gateway, which recovers the Sphinx plaintext, cannot read it: an ephemeral
//!   x25519 key, HKDF-SHA256 over the shared secret (salt: the ephemeral public key), and
//!   AES-128-CTR. The payload is `ephemeral public key (32) ‖ ciphertext`. There is no MAC:
//!   the Sphinx payload's own integrity check (Lioness with zero padding) already rejects a
//!   modified payload, as in Nym.
//! - A fragment sent through a reply SURB is encrypted with the 16-byte reply key that came
//!   with that SURB: `SHA-256 digest of the key (32) ‖ ciphertext`. The digest tells the SURB's
//!   creator which of its keys to use; each key is used once, so the zero IV is safe.
//! - An ack id (5 bytes) is encrypted under the client's ack key with a random IV:
//!   `IV (16) ‖ ciphertext (5)` = 21 bytes, the whole plaintext of an ack packet.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

const PAYLOAD_INFO: &[u8] = b"mixnet-client fragment payload v1";
const REPLY_DIGEST_DOMAIN: &[u8] = b"mixnet-client reply key v1";

/// Bytes in front of an encrypted fragment (ephemeral key or reply key digest).
pub const PAYLOAD_PREFIX_LEN: usize = 32;
/// An ack id's bytes.
pub const ACK_ID_LEN: usize = 5;
/// An ack packet's plaintext: IV and encrypted ack id.
pub const ACK_PLAINTEXT_LEN: usize = 16 + ACK_ID_LEN;

fn ctr(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    Aes128Ctr::new(key.into(), iv.into()).apply_keystream(data);
}

fn payload_key(shared: &[u8; 32], ephemeral_public: &[u8; 32]) -> Zeroizing<[u8; 16]> {
    let mut key = Zeroizing::new([0u8; 16]);
    Hkdf::<Sha256>::new(Some(ephemeral_public), shared)
        .expand(PAYLOAD_INFO, key.as_mut())
        .expect("16 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Encrypts `fragment` to `recipient_encryption` with the ephemeral secret `ephemeral`.
pub fn seal_to_recipient(
    ephemeral: [u8; 32],
    recipient_encryption: &[u8; 32],
    fragment: &[u8],
) -> Vec<u8> {
    let secret = StaticSecret::from(ephemeral);
    let public = PublicKey::from(&secret).to_bytes();
    let shared = Zeroizing::new(
        secret
            .diffie_hellman(&PublicKey::from(*recipient_encryption))
            .to_bytes(),
    );
    let key = payload_key(&shared, &public);
    let mut out = Vec::with_capacity(PAYLOAD_PREFIX_LEN + fragment.len());
    out.extend_from_slice(&public);
    out.extend_from_slice(fragment);
    ctr(&key, &[0; 16], &mut out[PAYLOAD_PREFIX_LEN..]);
    out
}

/// Decrypts a payload sealed to our encryption key; `None` if it is too short.
pub fn open_from_sender(encryption: &StaticSecret, payload: &[u8]) -> Option<Vec<u8>> {
    let (public, ciphertext) = payload.split_first_chunk::<PAYLOAD_PREFIX_LEN>()?;
    let shared = Zeroizing::new(
        encryption
            .diffie_hellman(&PublicKey::from(*public))
            .to_bytes(),
    );
    let key = payload_key(&shared, public);
    let mut out = ciphertext.to_vec();
    ctr(&key, &[0; 16], &mut out);
    Some(out)
}

/// What identifies a reply key in a reply payload.
pub fn reply_key_digest(key: &[u8; 16]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(REPLY_DIGEST_DOMAIN);
    h.update(key);
    h.finalize().into()
}

/// Encrypts a reply fragment with the key that came with the SURB.
pub fn seal_reply(key: &[u8; 16], fragment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PAYLOAD_PREFIX_LEN + fragment.len());
    out.extend_from_slice(&reply_key_digest(key));
    out.extend_from_slice(fragment);
    ctr(key, &[0; 16], &mut out[PAYLOAD_PREFIX_LEN..]);
    out
}

/// Decrypts a reply fragment's ciphertext (after the digest).
pub fn open_reply(key: &[u8; 16], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = ciphertext.to_vec();
    ctr(key, &[0; 16], &mut out);
    out
}

/// The 21-byte plaintext of an ack packet for `ack_id` (only its low 40 bits are sent).
pub fn seal_ack(ack_key: &[u8; 16], iv: [u8; 16], ack_id: u64) -> [u8; ACK_PLAINTEXT_LEN] {
    let mut out = [0u8; ACK_PLAINTEXT_LEN];
    out[..16].copy_from_slice(&iv);
    out[16..].copy_from_slice(&ack_id.to_be_bytes()[8 - ACK_ID_LEN..]);
    ctr(ack_key, &iv, &mut out[16..]);
    out
}

/// The ack id in an ack packet's plaintext; `None` if it is not 21 bytes.
pub fn open_ack(ack_key: &[u8; 16], plaintext: &[u8]) -> Option<u64> {
    let bytes: &[u8; ACK_PLAINTEXT_LEN] = plaintext.try_into().ok()?;
    let (iv, id) = bytes.split_at(16);
    let iv: [u8; 16] = iv.try_into().ok()?;
    let mut id8 = [0u8; 8];
    id8[8 - ACK_ID_LEN..].copy_from_slice(id);
    ctr(ack_key, &iv, &mut id8[8 - ACK_ID_LEN..]);
    Some(u64::from_be_bytes(id8))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_fragment_opens_only_with_the_recipients_key() {
        let recipient = StaticSecret::from([3u8; 32]);
        let public = PublicKey::from(&recipient).to_bytes();
        let sealed = seal_to_recipient([9u8; 32], &public, b"fragment bytes");
        assert_eq!(sealed.len(), 32 + 14);
        assert_ne!(&sealed[32..], b"fragment bytes");
        assert_eq!(
            open_from_sender(&recipient, &sealed).unwrap(),
            b"fragment bytes"
        );
        let other = StaticSecret::from([4u8; 32]);
        assert_ne!(
            open_from_sender(&other, &sealed).unwrap(),
            b"fragment bytes"
        );
        assert!(open_from_sender(&recipient, &sealed[..31]).is_none());
    }

    #[test]
    fn acks_round_trip_and_differ_per_iv() {
        let key = [5u8; 16];
        let a = seal_ack(&key, [1; 16], 0xAB_CDEF_0123);
        let b = seal_ack(&key, [2; 16], 0xAB_CDEF_0123);
        assert_ne!(
            a[16..],
            b[16..],
            "the same id looks different under another IV"
        );
        assert_eq!(open_ack(&key, &a), Some(0xAB_CDEF_0123));
        assert_eq!(open_ack(&key, &b), Some(0xAB_CDEF_0123));
        assert_ne!(open_ack(&[6u8; 16], &a), Some(0xAB_CDEF_0123));
        assert_eq!(open_ack(&key, &a[..20]), None);
    }

    #[test]
    fn replies_open_with_their_key() {
        let key = [8u8; 16];
        let sealed = seal_reply(&key, b"reply");
        assert_eq!(sealed[..32], reply_key_digest(&key));
        assert_eq!(open_reply(&key, &sealed[32..]), b"reply");
    }
}
