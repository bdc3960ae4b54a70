//! Noise links between nodes, sans-IO: the handshake and the transport cipher the runtime
//! will run on each node-to-node connection.
//!
//! The construction is Nym's, so our nodes and Nym's can open links to each other:
//! `Noise_XKpsk3_25519_AESGCM_SHA256`. The initiator knows the responder's static key from
//! the topology (XK); the responder learns the initiator's in the third message and checks it
//! against the topology itself (Nym's responder does not). The PSK at position 3 is
//! SHA-256(`"NYMTECH_NOISE_dQw4w9WgXcQ"` ‖ the responder's static public key): it binds the
//! handshake to the key the initiator meant to reach and costs nothing, but it is public
//! knowledge, so it adds no secrecy (Nym's older epoch-keyed PSK is not used: it broke every
//! link at each epoch boundary for no gain in secrecy). Every Noise message travels behind an
//! 8-byte header ([`header`]).
//!
//! - [`header`]: the 8-byte header (version 1, pattern 1 for XKpsk3, handshake or data, body
//!   length, three reserved bytes).
//! - [`handshake`]: the three messages (48, 48 and 64 bytes of body), on `snow`; each side a
//!   small state machine fed the peer's message bodies, bounded in bytes.
//! - [`peers`]: [`peers::NoiseMode`] (required, optional, off) and [`peers::LinkPeers`]
//!   (next hops' keys by address, the keys allowed to open a link): how each link opens.
//! - [`transport`]: the session's two directions, AES-256-GCM with Noise's counter nonces,
//!   encrypting and decrypting in place in the caller's buffer (ring), so a packet's bytes are
//!   written once by the cipher and never copied for it.

pub mod handshake;
pub mod header;
pub mod peers;
pub mod transport;

#[cfg(test)]
mod tests;

/// Both ends of a link after a real handshake between two fixed keys: (initiator's,
/// responder's) transports, for tests of what runs on a link.
#[cfg(test)]
pub(crate) fn linked_transports() -> (transport::Transport, transport::Transport) {
    let initiator = handshake::StaticKey::from_secret([1; KEY_LEN]);
    let responder = handshake::StaticKey::from_secret([2; KEY_LEN]);
    let (waiting, first) = handshake::initiate(&initiator, responder.public()).unwrap();
    let (answering, second) = handshake::respond(&responder, &first[header::HEADER_LEN..]).unwrap();
    let (third, ours) = waiting.read_second(&second[header::HEADER_LEN..]).unwrap();
    let theirs = answering.read_third(&third[header::HEADER_LEN..]).unwrap();
    (ours.transport, theirs.transport)
}

use sha2::{Digest, Sha256};

/// The Noise protocol name.
pub const PROTOCOL: &str = "Noise_XKpsk3_25519_AESGCM_SHA256";
/// Where the PSK is mixed in.
pub const PSK_POSITION: u8 = 3;
/// The prefix of the PSK's hash input.
pub const PSK_PREFIX: &[u8] = b"NYMTECH_NOISE_dQw4w9WgXcQ";
/// An X25519 key's length.
pub const KEY_LEN: usize = 32;
/// The AEAD tag's length.
pub const TAG_LEN: usize = 16;

/// The PSK for a link to the node whose static Noise key is `responder`.
pub fn psk(responder: &[u8; KEY_LEN]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(PSK_PREFIX);
    hash.update(responder);
    hash.finalize().into()
}

/// Why a Noise link ended. Each ends only its own connection; [`NoiseError::label`] is the
/// reason it is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    /// The header names a version other than 1.
    #[error("Noise header: unknown version {0}")]
    UnknownVersion(u8),
    /// The header names a pattern other than XKpsk3.
    #[error("Noise header: unknown pattern {0}")]
    UnknownPattern(u8),
    /// The header's message type is neither handshake (0) nor data (1).
    #[error("Noise header: unknown message type {0}")]
    UnknownMessageType(u8),
    /// A data message during the handshake, or a handshake message after it.
    #[error("Noise: a {got} message where a {expected} message belongs")]
    UnexpectedMessage {
        /// What arrived.
        got: &'static str,
        /// What the link expected.
        expected: &'static str,
    },
    /// A handshake message body of the wrong length for its step.
    #[error("Noise handshake message {step}: {got} bytes, expected {expected}")]
    HandshakeLength {
        /// The message (1, 2 or 3).
        step: u8,
        /// Its body's length.
        got: usize,
        /// The pattern's length for it.
        expected: usize,
    },
    /// A handshake message failed to decrypt: not from the key the initiator meant to reach,
    /// or not a Noise message at all.
    #[error("Noise handshake message {step} does not decrypt")]
    HandshakeFailed {
        /// The message (1, 2 or 3).
        step: u8,
    },
    /// A transport message failed its tag: tampered, replayed, reordered or forged.
    #[error("Noise transport message failed authentication")]
    BadTag,
    /// A transport message too short to hold a tag, or too long for the header's length.
    #[error("Noise transport message of {0} bytes")]
    BadLength(usize),
    /// 2^64 - 1 messages on one direction: the link must be opened again.
    #[error("Noise nonces exhausted on this link")]
    NoncesExhausted,
}

impl NoiseError {
    /// The reason a connection that failed this way is counted under.
    pub fn label(&self) -> &'static str {
        match self {
            Self::UnknownVersion(_) | Self::UnknownPattern(_) | Self::UnknownMessageType(_) => {
                "bad_header"
            }
            Self::UnexpectedMessage { .. } => "unexpected_message",
            Self::HandshakeLength { .. } => "handshake_length",
            Self::HandshakeFailed { .. } => "handshake_failed",
            Self::BadTag => "bad_tag",
            Self::BadLength(_) => "bad_length",
            Self::NoncesExhausted => "nonces_exhausted",
        }
    }
}
