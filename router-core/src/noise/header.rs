//! The 8-byte header in front of every Noise message on a link:
//!
//! ```text
//! 0       1       2       3       5          8
//! +-------+-------+-------+-------+----------+
//! |version|pattern| type  |length | reserved |
//! +-------+-------+-------+-------+----------+
//! ```
//! version 1; pattern 1 (XKpsk3); type 0 handshake, 1 data; length of the body that
//! follows, big-endian (at most 65,535); reserved bytes written as zero and ignored.

use super::NoiseError;

/// The header's length.
pub const HEADER_LEN: usize = 8;
/// The only version.
pub const VERSION: u8 = 1;
/// XKpsk3's number.
pub const PATTERN_XKPSK3: u8 = 1;
/// The longest body a header can announce.
pub const MAX_BODY_LEN: usize = u16::MAX as usize;

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// One of the three handshake messages.
    Handshake,
    /// A transport message (ciphertext and tag).
    Data,
}

impl MessageType {
    /// Its name, for errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Data => "data",
        }
    }
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Handshake or data.
    pub kind: MessageType,
    /// The body's length.
    pub body_len: usize,
}

impl Header {
    /// The header of a `kind` message with a body of `body_len` bytes (at most
    /// [`MAX_BODY_LEN`]).
    pub fn encode(kind: MessageType, body_len: usize) -> [u8; HEADER_LEN] {
        debug_assert!(body_len <= MAX_BODY_LEN);
        let len = u16::try_from(body_len).unwrap_or(u16::MAX).to_be_bytes();
        let kind = match kind {
            MessageType::Handshake => 0,
            MessageType::Data => 1,
        };
        [VERSION, PATTERN_XKPSK3, kind, len[0], len[1], 0, 0, 0]
    }

    /// Decodes the header at the start of `bytes` (which must hold [`HEADER_LEN`] bytes).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, NoiseError> {
        if bytes[0] != VERSION {
            return Err(NoiseError::UnknownVersion(bytes[0]));
        }
        if bytes[1] != PATTERN_XKPSK3 {
            return Err(NoiseError::UnknownPattern(bytes[1]));
        }
        let kind = match bytes[2] {
            0 => MessageType::Handshake,
            1 => MessageType::Data,
            other => return Err(NoiseError::UnknownMessageType(other)),
        };
        Ok(Header {
            kind,
            body_len: usize::from(u16::from_be_bytes([bytes[3], bytes[4]])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_nyms() {
        assert_eq!(
            Header::encode(MessageType::Data, 0x1234),
            [1, 1, 1, 0x12, 0x34, 0, 0, 0]
        );
        assert_eq!(
            Header::encode(MessageType::Handshake, 48),
            [1, 1, 0, 0, 48, 0, 0, 0]
        );
    }

    #[test]
    fn every_header_round_trips_and_bad_fields_are_named() {
        for kind in [MessageType::Handshake, MessageType::Data] {
            for len in [0, 1, 48, 64, 2417, MAX_BODY_LEN] {
                let h = Header::decode(&Header::encode(kind, len)).unwrap();
                assert_eq!(
                    h,
                    Header {
                        kind,
                        body_len: len
                    }
                );
            }
        }
        // Reserved bytes are ignored.
        let mut b = Header::encode(MessageType::Data, 5);
        b[5..].copy_from_slice(&[9, 9, 9]);
        assert_eq!(Header::decode(&b).unwrap().body_len, 5);
        let bad = |i: usize, v: u8| {
            let mut b = Header::encode(MessageType::Data, 5);
            b[i] = v;
            Header::decode(&b).unwrap_err()
        };
        assert_eq!(bad(0, 2), NoiseError::UnknownVersion(2));
        assert_eq!(bad(1, 2), NoiseError::UnknownPattern(2));
        assert_eq!(bad(2, 7), NoiseError::UnknownMessageType(7));
    }
}
