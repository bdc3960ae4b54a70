//! A link's session after the handshake: one AES-256-GCM key per direction, with Noise's
//! nonces (four zero bytes, then a 64-bit big-endian counter of the messages sent that way).
//! Sealing and opening work in place in the caller's buffer: the plaintext is encrypted
//! where it lies, and a received message is decrypted where it was read.
//!
//! A message that fails its tag (a flipped byte, a replay, a message dropped or reordered
//! before it: its counter is not the one expected) is an error, and the link ends.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use super::header::{Header, MessageType, HEADER_LEN, MAX_BODY_LEN};
use super::{NoiseError, TAG_LEN};

/// The most plaintext one transport message carries.
pub const MAX_PLAINTEXT: usize = MAX_BODY_LEN - TAG_LEN;
/// What a sealed message adds around its plaintext: the header before it, the tag after.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// One direction's key and counter.
struct Direction {
    key: LessSafeKey,
    next: u64,
}

impl Direction {
    fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is what AES-256-GCM takes: this cannot fail.
        #[allow(clippy::expect_used)]
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
        Self {
            key: LessSafeKey::new(key),
            next: 0,
        }
    }

    /// The next message's nonce. Noise reserves 2^64 - 1.
    fn nonce(&self) -> Result<Nonce, NoiseError> {
        if self.next == u64::MAX {
            return Err(NoiseError::NoncesExhausted);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce[4..].copy_from_slice(&self.next.to_be_bytes());
        Ok(Nonce::assume_unique_for_key(nonce))
    }
}

/// Both directions of an established link.
pub struct Transport {
    send: Direction,
    receive: Direction,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("sent", &self.send.next)
            .field("received", &self.receive.next)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A session sending with `send` and receiving with `receive`.
    pub fn new(send: &[u8; 32], receive: &[u8; 32]) -> Self {
        Self {
            send: Direction::new(send),
            receive: Direction::new(receive),
        }
    }

    /// Seals one message in place. `message` is the header's room, the plaintext, and the
    /// tag's room: `[HEADER_LEN][plaintext][TAG_LEN]`, the plaintext at most
    /// [`MAX_PLAINTEXT`] bytes. Writes the header, encrypts the plaintext where it is and
    /// writes the tag; the whole of `message` is then what goes on the wire.
    pub fn seal(&mut self, message: &mut [u8]) -> Result<(), NoiseError> {
        let Some(plaintext_len) = message.len().checked_sub(OVERHEAD) else {
            return Err(NoiseError::BadLength(message.len()));
        };
        if plaintext_len > MAX_PLAINTEXT {
            return Err(NoiseError::BadLength(message.len()));
        }
        let nonce = self.send.nonce()?;
        let (header, rest) = message.split_at_mut(HEADER_LEN);
        header.copy_from_slice(&Header::encode(MessageType::Data, plaintext_len + TAG_LEN));
        let (plaintext, tag_room) = rest.split_at_mut(plaintext_len);
        let tag = self
            .send
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), plaintext)
            .map_err(|_| NoiseError::BadLength(plaintext_len))?;
        tag_room.copy_from_slice(tag.as_ref());
        self.send.next += 1;
        Ok(())
    }

    /// Opens the body of one received data message (ciphertext and tag, as its header
    /// announced) in place; returns the plaintext, the start of `body`.
    pub fn open<'a>(&mut self, body: &'a mut [u8]) -> Result<&'a mut [u8], NoiseError> {
        if body.len() < TAG_LEN || body.len() > MAX_BODY_LEN {
            return Err(NoiseError::BadLength(body.len()));
        }
        let nonce = self.receive.nonce()?;
        let plaintext = self
            .receive
            .key
            .open_in_place(nonce, Aad::empty(), body)
            .map_err(|_| NoiseError::BadTag)?;
        self.receive.next += 1;
        Ok(plaintext)
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.send.next
    }

    /// Messages received so far.
    pub fn received(&self) -> u64 {
        self.receive.next
    }
}
