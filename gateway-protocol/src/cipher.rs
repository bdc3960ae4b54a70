//! Binary frames under the session keys: ChaCha20-Poly1305 with a per-direction counter nonce.
//!
//! Each direction has its own key, so the two counters never share a nonce space. The counter
//! is not sent: both ends count the frames of a session, so a frame replayed, reordered or
//! dropped by anything between them fails to open and ends the session.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use super::handshake::SessionKeys;

/// The 16-byte Poly1305 tag each frame carries.
pub const TAG_LEN: usize = 16;

/// A frame that did not open.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherError {
    /// Wrong key, tampered, replayed, reordered or truncated.
    #[error("a binary frame failed authentication (tampered, replayed or out of order)")]
    Authentication,
    /// 2^64 frames in one session.
    #[error("the session has used up its frame counter; reconnect")]
    Exhausted,
}

/// One end's cipher state for a session.
pub struct SessionCipher {
    seal: ChaCha20Poly1305,
    open: ChaCha20Poly1305,
    sent: u64,
    received: u64,
}

impl std::fmt::Debug for SessionCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCipher")
            .field("sent", &self.sent)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(bytes)
}

impl SessionCipher {
    /// The client's end: seals with the client-to-gateway key.
    pub fn client(keys: &SessionKeys) -> Self {
        Self::new(keys.client_to_gateway(), keys.gateway_to_client())
    }

    /// The gateway's end: seals with the gateway-to-client key.
    pub fn gateway(keys: &SessionKeys) -> Self {
        Self::new(keys.gateway_to_client(), keys.client_to_gateway())
    }

    fn new(seal: &[u8; 32], open: &[u8; 32]) -> Self {
        SessionCipher {
            seal: ChaCha20Poly1305::new(&Key::from(*seal)),
            open: ChaCha20Poly1305::new(&Key::from(*open)),
            sent: 0,
            received: 0,
        }
    }

    /// Encrypts the next outgoing frame.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let counter = self.sent;
        self.sent = counter.checked_add(1).ok_or(CipherError::Exhausted)?;
        self.seal
            .encrypt(&nonce(counter), plaintext)
            .map_err(|_| CipherError::Exhausted)
    }

    /// Decrypts the next incoming frame. A failure is final for the session: the counter does
    /// not move, so no later frame will open either.
    pub fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, CipherError> {
        let plaintext = self
            .open
            .decrypt(&nonce(self.received), frame)
            .map_err(|_| CipherError::Authentication)?;
        self.received = self.received.checked_add(1).ok_or(CipherError::Exhausted)?;
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{derive_session_keys, SharedKey};

    fn pair() -> (SessionCipher, SessionCipher) {
        let keys = derive_session_keys(&SharedKey::from_bytes([7; 32]), &[1; 32], &[2; 32]);
        (SessionCipher::client(&keys), SessionCipher::gateway(&keys))
    }

    #[test]
    fn frames_open_in_order_in_both_directions() {
        let (mut client, mut gateway) = pair();
        for i in 0..5u8 {
            let frame = client.seal(&[i; 40]).unwrap();
            assert_eq!(frame.len(), 40 + TAG_LEN);
            assert_eq!(gateway.open(&frame).unwrap(), vec![i; 40]);
            let back = gateway.seal(&[i]).unwrap();
            assert_eq!(client.open(&back).unwrap(), vec![i]);
        }
    }

    #[test]
    fn replayed_reordered_reflected_and_tampered_frames_fail() {
        let (mut client, mut gateway) = pair();
        let first = client.seal(b"one").unwrap();
        let second = client.seal(b"two").unwrap();
        assert_eq!(
            gateway.open(&second),
            Err(CipherError::Authentication),
            "reordered"
        );
        assert_eq!(gateway.open(&first).unwrap(), b"one");
        assert_eq!(
            gateway.open(&first),
            Err(CipherError::Authentication),
            "replayed"
        );
        let mut tampered = second.clone();
        tampered[0] ^= 1;
        assert_eq!(gateway.open(&tampered), Err(CipherError::Authentication));
        // A client frame reflected back at the client does not open (separate keys).
        let (mut c2, _) = pair();
        let own = c2.seal(b"x").unwrap();
        assert_eq!(c2.open(&own), Err(CipherError::Authentication));
        assert_eq!(gateway.open(&second).unwrap(), b"two");
    }

    #[test]
    fn another_sessions_frames_do_not_open() {
        let keys_a = derive_session_keys(&SharedKey::from_bytes([7; 32]), &[1; 32], &[2; 32]);
        let keys_b = derive_session_keys(&SharedKey::from_bytes([7; 32]), &[1; 32], &[3; 32]);
        let frame = SessionCipher::client(&keys_a).seal(b"hello").unwrap();
        assert!(SessionCipher::gateway(&keys_b).open(&frame).is_err());
    }
}
