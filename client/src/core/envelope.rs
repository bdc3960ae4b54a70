//! What a reassembled message holds: its kind, whether it is text, reply SURBs for anonymous
//! messages, and the app's bytes.
//!
//! ```text
//! kind u8 (0 message, 1 anonymous message, 2 reply) | text u8 (0 bytes, 1 UTF-8)
//! anonymous only: sender tag [16] | SURB count u16 | count × (SURB length u16 | SURB | reply key [16])
//! payload
//! ```
//!
//! An anonymous message names no sender: the tag only lets the recipient group the SURBs of
//! one correspondent, and the SURBs route back without revealing where to.

/// A reply SURB and the key the reply must be encrypted with.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplySurb {
    /// The SURB's bytes (`sphinx-packet`'s encoding).
    pub surb: Vec<u8>,
    /// The reply key.
    pub key: [u8; 16],
}

impl std::fmt::Debug for ReplySurb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplySurb({} bytes)", self.surb.len())
    }
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// A message that asks for no reply.
    Message {
        /// UTF-8 text for the app.
        text: bool,
        /// The app's bytes.
        payload: Vec<u8>,
    },
    /// A message that can be answered through its SURBs.
    Anonymous {
        /// UTF-8 text for the app.
        text: bool,
        /// Groups the SURBs of one sender.
        sender_tag: [u8; 16],
        /// The SURBs.
        surbs: Vec<ReplySurb>,
        /// The app's bytes.
        payload: Vec<u8>,
    },
    /// An answer that came through our SURBs.
    Reply {
        /// UTF-8 text for the app.
        text: bool,
        /// The app's bytes.
        payload: Vec<u8>,
    },
}

/// Why bytes are not an envelope.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Ends inside a field.
    #[error("message envelope truncated")]
    Truncated,
    /// Unknown kind or flag.
    #[error("unknown message kind {0}")]
    Kind(u8),
    /// Text that is not UTF-8.
    #[error("a text message that is not UTF-8")]
    NotUtf8,
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], EnvelopeError> {
    if bytes.len() < n {
        return Err(EnvelopeError::Truncated);
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_array<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], EnvelopeError> {
    let head = take(bytes, N)?;
    head.try_into().map_err(|_| EnvelopeError::Truncated)
}

impl Envelope {
    /// Its encoding.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, text, payload) = match self {
            Envelope::Message { text, payload } => (0u8, *text, payload),
            Envelope::Anonymous { text, payload, .. } => (1, *text, payload),
            Envelope::Reply { text, payload } => (2, *text, payload),
        };
        let mut out = vec![kind, u8::from(text)];
        if let Envelope::Anonymous {
            sender_tag, surbs, ..
        } = self
        {
            out.extend_from_slice(sender_tag);
            let count = u16::try_from(surbs.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for s in surbs.iter().take(usize::from(count)) {
                // A SURB is at most 348 + 32 + 5 * 16 bytes.
                out.extend_from_slice(&(s.surb.len() as u16).to_be_bytes());
                out.extend_from_slice(&s.surb);
                out.extend_from_slice(&s.key);
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Decodes a reassembled message.
    pub fn decode(mut bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let [kind, text] = take_array::<2>(&mut bytes)?;
        let text = match text {
            0 => false,
            1 => true,
            other => return Err(EnvelopeError::Kind(other)),
        };
        let envelope = match kind {
            0 => Envelope::Message {
                text,
                payload: Vec::new(),
            },
            1 => {
                let sender_tag = take_array::<16>(&mut bytes)?;
                let count = u16::from_be_bytes(take_array::<2>(&mut bytes)?);
                let mut surbs = Vec::with_capacity(usize::from(count).min(bytes.len() / 18));
                for _ in 0..count {
                    let len = u16::from_be_bytes(take_array::<2>(&mut bytes)?);
                    let surb = take(&mut bytes, usize::from(len))?.to_vec();
                    let key = take_array::<16>(&mut bytes)?;
                    surbs.push(ReplySurb { surb, key });
                }
                Envelope::Anonymous {
                    text,
                    sender_tag,
                    surbs,
                    payload: Vec::new(),
                }
            }
            2 => Envelope::Reply {
                text,
                payload: Vec::new(),
            },
            other => return Err(EnvelopeError::Kind(other)),
        };
        if text && std::str::from_utf8(bytes).is_err() {
            return Err(EnvelopeError::NotUtf8);
        }
        Ok(envelope.with_payload(bytes.to_vec()))
    }

    fn with_payload(mut self, bytes: Vec<u8>) -> Self {
        match &mut self {
            Envelope::Message { payload, .. }
            | Envelope::Anonymous { payload, .. }
            | Envelope::Reply { payload, .. } => *payload = bytes,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_kind_round_trips() {
        let cases = [
            Envelope::Message {
                text: true,
                payload: b"hello".to_vec(),
            },
            Envelope::Anonymous {
                text: false,
                sender_tag: [3; 16],
                surbs: vec![
                    ReplySurb {
                        surb: vec![1; 444],
                        key: [2; 16],
                    },
                    ReplySurb {
                        surb: vec![4; 10],
                        key: [5; 16],
                    },
                ],
                payload: vec![0xff, 0],
            },
            Envelope::Reply {
                text: true,
                payload: Vec::new(),
            },
        ];
        for e in cases {
            assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
        }
        assert_eq!(Envelope::decode(&[0, 1, 0xff]), Err(EnvelopeError::NotUtf8));
        assert_eq!(Envelope::decode(&[7, 0]), Err(EnvelopeError::Kind(7)));
        assert_eq!(
            Envelope::decode(&[1, 0, 1, 2]),
            Err(EnvelopeError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(e) = Envelope::decode(&bytes) {
                prop_assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
            }
        }
    }
}
