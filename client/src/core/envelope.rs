//! What a reassembled message holds: its kind, whether it is text, reply SURBs for anonymous
//! messages, and the app's bytes.
//!
//! ```text
//! kind u8 | text u8 (0 bytes, 1 UTF-8)
//!   0 message:        payload
//!   1 anonymous:      sender tag [16] | SURBs | payload
//!   2 reply:          payload
//!   3 SURB request:   count u16                  (text 0; sent through a SURB)
//!   4 SURB top-up:    sender tag [16] | SURBs    (text 0; the answer to a request)
//! SURBs = count u16 | count × (SURB length u16 | SURB | reply key [16])
//! ```
//!
//! An anonymous message names no sender: the tag only lets the recipient group the SURBs of
//! one correspondent, and the SURBs route back without revealing where to. Kinds 3 and 4 are
//! the cores' own conversation and never reach an app: a replier running low on SURBs asks
//! for more through one of them, and the SURBs' creator, which knows whom it gave them to,
//! sends a top-up.

/// A reply SURB and the key the reply must be encrypted with.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplySurb {
    /// The SURB's bytes (`sphinx-packet`'s encoding).
    pub surb: Vec<u8>,
    /// The reply key.
    pub key: [u8; 16],
    /// The key rotation whose keys the SURB was built with (`None` on a chain without
    /// rotation): it names that rotation in the frame the reply is sent in, and the SURB
    /// expires with the keys ([`crate::core::ClientCore`] drops it then).
    pub rotation: Option<u64>,
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
    /// A replier asks for this many more SURBs (it travels through one of ours).
    SurbRequest {
        /// SURBs asked for.
        count: u16,
    },
    /// More SURBs, answering a [`Envelope::SurbRequest`].
    SurbTopUp {
        /// The tag the SURBs were first sent under.
        sender_tag: [u8; 16],
        /// The SURBs.
        surbs: Vec<ReplySurb>,
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

fn encode_surbs(out: &mut Vec<u8>, sender_tag: &[u8; 16], surbs: &[ReplySurb]) {
    out.extend_from_slice(sender_tag);
    let count = u16::try_from(surbs.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for s in surbs.iter().take(usize::from(count)) {
        // A SURB is at most 348 + 32 + 5 * 16 bytes.
        out.extend_from_slice(&(s.surb.len() as u16).to_be_bytes());
        out.extend_from_slice(&s.surb);
        out.extend_from_slice(&s.key);
        out.extend_from_slice(&s.rotation.unwrap_or(NO_ROTATION).to_be_bytes());
    }
}

/// The rotation field of a SURB built on a chain without rotation.
const NO_ROTATION: u64 = u64::MAX;

fn decode_surbs(bytes: &mut &[u8]) -> Result<([u8; 16], Vec<ReplySurb>), EnvelopeError> {
    let sender_tag = take_array::<16>(bytes)?;
    let count = u16::from_be_bytes(take_array::<2>(bytes)?);
    let mut surbs = Vec::with_capacity(usize::from(count).min(bytes.len() / 26));
    for _ in 0..count {
        let len = u16::from_be_bytes(take_array::<2>(bytes)?);
        let surb = take(bytes, usize::from(len))?.to_vec();
        let key = take_array::<16>(bytes)?;
        let rotation = u64::from_be_bytes(take_array::<8>(bytes)?);
        surbs.push(ReplySurb {
            surb,
            key,
            rotation: (rotation != NO_ROTATION).then_some(rotation),
        });
    }
    Ok((sender_tag, surbs))
}

impl Envelope {
    /// Its encoding.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, text) = match self {
            Envelope::Message { text, .. } => (0u8, *text),
            Envelope::Anonymous { text, .. } => (1, *text),
            Envelope::Reply { text, .. } => (2, *text),
            Envelope::SurbRequest { .. } => (3, false),
            Envelope::SurbTopUp { .. } => (4, false),
        };
        let mut out = vec![kind, u8::from(text)];
        match self {
            Envelope::Message { payload, .. } | Envelope::Reply { payload, .. } => {
                out.extend_from_slice(payload);
            }
            Envelope::Anonymous {
                sender_tag,
                surbs,
                payload,
                ..
            } => {
                encode_surbs(&mut out, sender_tag, surbs);
                out.extend_from_slice(payload);
            }
            Envelope::SurbRequest { count } => out.extend_from_slice(&count.to_be_bytes()),
            Envelope::SurbTopUp { sender_tag, surbs } => {
                encode_surbs(&mut out, sender_tag, surbs);
            }
        }
        out
    }

    /// Decodes a reassembled message.
    pub fn decode(mut bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let [kind, text] = take_array::<2>(&mut bytes)?;
        let text = match text {
            0 => false,
            1 if kind <= 2 => true,
            other => return Err(EnvelopeError::Kind(other)),
        };
        let envelope = match kind {
            0 => Envelope::Message {
                text,
                payload: Vec::new(),
            },
            1 => {
                let (sender_tag, surbs) = decode_surbs(&mut bytes)?;
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
            3 => {
                let count = u16::from_be_bytes(take_array::<2>(&mut bytes)?);
                return Ok(Envelope::SurbRequest { count });
            }
            4 => {
                let (sender_tag, surbs) = decode_surbs(&mut bytes)?;
                return Ok(Envelope::SurbTopUp { sender_tag, surbs });
            }
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
            Envelope::SurbRequest { .. } | Envelope::SurbTopUp { .. } => {}
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
                        rotation: Some(41),
                    },
                    ReplySurb {
                        surb: vec![4; 10],
                        key: [5; 16],
                        rotation: None,
                    },
                ],
                payload: vec![0xff, 0],
            },
            Envelope::Reply {
                text: true,
                payload: Vec::new(),
            },
            Envelope::SurbRequest { count: 513 },
            Envelope::SurbTopUp {
                sender_tag: [9; 16],
                surbs: vec![ReplySurb {
                    surb: vec![6; 300],
                    key: [7; 16],
                    rotation: Some(0),
                }],
            },
        ];
        for e in cases {
            assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
        }
        assert_eq!(Envelope::decode(&[0, 1, 0xff]), Err(EnvelopeError::NotUtf8));
        assert_eq!(Envelope::decode(&[7, 0]), Err(EnvelopeError::Kind(7)));
        // The cores' own kinds are never text.
        assert_eq!(Envelope::decode(&[3, 1, 0, 5]), Err(EnvelopeError::Kind(1)));
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
