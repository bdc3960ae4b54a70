//! The app websocket API: what apps send the native client and what it answers. Pure types
//! and codecs; the server is in `native::app`.
//!
//! Text frames are JSON, tagged by `type`:
//!
//! | request | fields |
//! |---|---|
//! | `send` | `message` (text), `recipient` (address) |
//! | `sendAnonymous` | `message`, `recipient`, `replySurbs` (count) |
//! | `reply` | `message`, `senderTag` (from a `received`) |
//! | `selfAddress` | |
//!
//! | response | fields |
//! |---|---|
//! | `received` | `message` (text), `senderTag` (null unless it can be answered), `isReply` |
//! | `selfAddress` | `address` |
//! | `error` | `message` |
//!
//! Binary frames carry byte payloads (big-endian lengths):
//!
//! ```text
//! request  1 send:          recipient length u16 | recipient | payload
//!          2 sendAnonymous: recipient length u16 | recipient | reply SURBs u16 | payload
//!          3 reply:         sender tag [16] | payload
//! response 1 received:      flags u8 (1 has sender tag, 2 is a reply) | [sender tag 16] | payload
//! ```
//!
//! A message sent as text is received as a JSON `received`; one sent as bytes as a binary
//! `received`. [`AppRequest`] is what either kind of frame asks the client to do.

use serde::{Deserialize, Serialize};

/// A request from an app.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Request {
    /// Send `message` to `recipient`.
    Send {
        /// The message.
        message: String,
        /// The recipient's address.
        recipient: String,
    },
    /// Send `message` with `reply_surbs` SURBs so the recipient can answer without learning
    /// our address.
    SendAnonymous {
        /// The message.
        message: String,
        /// The recipient's address.
        recipient: String,
        /// SURBs to include.
        reply_surbs: u16,
    },
    /// Answer an anonymous sender.
    Reply {
        /// The message.
        message: String,
        /// The sender tag of the message answered.
        sender_tag: String,
    },
    /// Ask for our address.
    SelfAddress,
}

/// A response or notification to an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Response {
    /// A message arrived.
    Received {
        /// The message.
        message: String,
        /// The tag to reply with, if the sender attached SURBs.
        #[serde(default)]
        sender_tag: Option<String>,
        /// An answer to one of our anonymous messages.
        #[serde(default)]
        is_reply: bool,
    },
    /// Our address.
    SelfAddress {
        /// The address.
        address: String,
    },
    /// A request failed.
    Error {
        /// What went wrong.
        message: String,
    },
    /// A response type this version does not know (an app parsing a newer client's
    /// answers ignores it); the client never sends it.
    #[serde(other)]
    Unknown,
}

impl Response {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","message":"internal: response not serialisable"}"#.to_owned()
        })
    }
}

/// A request in a binary frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryRequest {
    /// Send bytes.
    Send {
        /// The recipient's address text.
        recipient: String,
        /// The bytes.
        payload: Vec<u8>,
    },
    /// Send bytes with reply SURBs.
    SendAnonymous {
        /// The recipient's address text.
        recipient: String,
        /// SURBs to include.
        reply_surbs: u16,
        /// The bytes.
        payload: Vec<u8>,
    },
    /// Answer an anonymous sender with bytes.
    Reply {
        /// The sender tag.
        sender_tag: [u8; 16],
        /// The bytes.
        payload: Vec<u8>,
    },
}

/// Why a binary frame is not a request.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// Empty or unknown kind.
    #[error("unknown binary request kind")]
    Kind,
    /// Ends inside a field.
    #[error("binary request truncated")]
    Truncated,
    /// The recipient is not UTF-8.
    #[error("recipient is not UTF-8")]
    Recipient,
}

fn split_u16(bytes: &[u8]) -> Result<(u16, &[u8]), BinaryError> {
    let (len, rest) = bytes
        .split_first_chunk::<2>()
        .ok_or(BinaryError::Truncated)?;
    Ok((u16::from_be_bytes(*len), rest))
}

fn recipient(bytes: &[u8]) -> Result<(String, &[u8]), BinaryError> {
    let (len, rest) = split_u16(bytes)?;
    if rest.len() < usize::from(len) {
        return Err(BinaryError::Truncated);
    }
    let (name, rest) = rest.split_at(usize::from(len));
    let name = std::str::from_utf8(name).map_err(|_| BinaryError::Recipient)?;
    Ok((name.to_owned(), rest))
}

impl BinaryRequest {
    /// Decodes a binary frame.
    pub fn decode(frame: &[u8]) -> Result<Self, BinaryError> {
        let (&kind, rest) = frame.split_first().ok_or(BinaryError::Kind)?;
        match kind {
            1 => {
                let (recipient, payload) = recipient(rest)?;
                Ok(BinaryRequest::Send {
                    recipient,
                    payload: payload.to_vec(),
                })
            }
            2 => {
                let (recipient, rest) = recipient(rest)?;
                let (reply_surbs, payload) = split_u16(rest)?;
                Ok(BinaryRequest::SendAnonymous {
                    recipient,
                    reply_surbs,
                    payload: payload.to_vec(),
                })
            }
            3 => {
                let (tag, payload) = rest
                    .split_first_chunk::<16>()
                    .ok_or(BinaryError::Truncated)?;
                Ok(BinaryRequest::Reply {
                    sender_tag: *tag,
                    payload: payload.to_vec(),
                })
            }
            _ => Err(BinaryError::Kind),
        }
    }

    /// Encodes it (what an app written in Rust sends).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let put_recipient = |out: &mut Vec<u8>, r: &str| {
            // An address is about 140 bytes; a longer one is cut and then refused on parsing.
            let len = u16::try_from(r.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&r.as_bytes()[..usize::from(len)]);
        };
        match self {
            BinaryRequest::Send { recipient, payload } => {
                out.push(1);
                put_recipient(&mut out, recipient);
                out.extend_from_slice(payload);
            }
            BinaryRequest::SendAnonymous {
                recipient,
                reply_surbs,
                payload,
            } => {
                out.push(2);
                put_recipient(&mut out, recipient);
                out.extend_from_slice(&reply_surbs.to_be_bytes());
                out.extend_from_slice(payload);
            }
            BinaryRequest::Reply {
                sender_tag,
                payload,
            } => {
                out.push(3);
                out.extend_from_slice(sender_tag);
                out.extend_from_slice(payload);
            }
        }
        out
    }
}

/// A binary `received` frame.
pub fn encode_binary_received(
    sender_tag: Option<&[u8; 16]>,
    is_reply: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + payload.len());
    out.push(1);
    out.push(u8::from(sender_tag.is_some()) | (u8::from(is_reply) << 1));
    if let Some(tag) = sender_tag {
        out.extend_from_slice(tag);
    }
    out.extend_from_slice(payload);
    out
}

/// A sender tag as apps see it.
pub fn encode_sender_tag(tag: &[u8; 16]) -> String {
    bs58::encode(tag).into_string()
}

/// A sender tag from an app.
pub fn decode_sender_tag(text: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    match bs58::decode(text).onto(&mut out) {
        Ok(16) => Some(out),
        _ => None,
    }
}

/// An app's request, decoded and mapped to what the client does (a text frame's message is
/// sent as text, a binary frame's as bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRequest {
    /// Send to an address.
    Send {
        /// The address text (parsed by the driver).
        recipient: String,
        /// Bytes.
        payload: Vec<u8>,
        /// Sent as text.
        text: bool,
        /// Reply SURBs to include (anonymous when some).
        reply_surbs: Option<u16>,
    },
    /// Answer an anonymous sender.
    Reply {
        /// Its tag.
        sender_tag: [u8; 16],
        /// Bytes.
        payload: Vec<u8>,
        /// Sent as text.
        text: bool,
    },
    /// Our address.
    SelfAddress,
    /// Could not be decoded: the reason.
    Invalid(String),
}

impl AppRequest {
    /// Decodes a text (JSON) frame; what does not decode is [`AppRequest::Invalid`].
    pub fn from_text(text: &str) -> AppRequest {
        match serde_json::from_str::<Request>(text) {
            Ok(Request::Send { message, recipient }) => AppRequest::Send {
                recipient,
                payload: message.into_bytes(),
                text: true,
                reply_surbs: None,
            },
            Ok(Request::SendAnonymous {
                message,
                recipient,
                reply_surbs,
            }) => AppRequest::Send {
                recipient,
                payload: message.into_bytes(),
                text: true,
                reply_surbs: Some(reply_surbs),
            },
            Ok(Request::Reply {
                message,
                sender_tag,
            }) => match decode_sender_tag(&sender_tag) {
                Some(tag) => AppRequest::Reply {
                    sender_tag: tag,
                    payload: message.into_bytes(),
                    text: true,
                },
                None => {
                    AppRequest::Invalid(format!("senderTag {sender_tag:?} is not a sender tag"))
                }
            },
            Ok(Request::SelfAddress) => AppRequest::SelfAddress,
            Err(e) => AppRequest::Invalid(format!("not a request: {e}")),
        }
    }

    /// Decodes a binary frame; what does not decode is [`AppRequest::Invalid`].
    pub fn from_binary(frame: &[u8]) -> AppRequest {
        match BinaryRequest::decode(frame) {
            Ok(BinaryRequest::Send { recipient, payload }) => AppRequest::Send {
                recipient,
                payload,
                text: false,
                reply_surbs: None,
            },
            Ok(BinaryRequest::SendAnonymous {
                recipient,
                reply_surbs,
                payload,
            }) => AppRequest::Send {
                recipient,
                payload,
                text: false,
                reply_surbs: Some(reply_surbs),
            },
            Ok(BinaryRequest::Reply {
                sender_tag,
                payload,
            }) => AppRequest::Reply {
                sender_tag,
                payload,
                text: false,
            },
            Err(e) => AppRequest::Invalid(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn json_requests_use_the_documented_names() {
        let r: Request = serde_json::from_str(
            r#"{"type":"sendAnonymous","message":"hi","recipient":"x","replySurbs":3}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::SendAnonymous {
                message: "hi".into(),
                recipient: "x".into(),
                reply_surbs: 3
            }
        );
        let r: Request =
            serde_json::from_str(r#"{"type":"reply","message":"m","senderTag":"t"}"#).unwrap();
        assert!(matches!(r, Request::Reply { .. }));
        let r: Request = serde_json::from_str(r#"{"type":"selfAddress"}"#).unwrap();
        assert_eq!(r, Request::SelfAddress);
        assert!(serde_json::from_str::<Request>(r#"{"type":"send","message":"m"}"#).is_err());
        let json = Response::Received {
            message: "m".into(),
            sender_tag: None,
            is_reply: false,
        }
        .to_json();
        assert_eq!(
            json,
            r#"{"type":"received","message":"m","senderTag":null,"isReply":false}"#
        );
    }

    proptest! {
        #[test]
        fn binary_requests_round_trip(kind in 0u8..3, recipient in "[a-zA-Z0-9.@]{0,150}", surbs in any::<u16>(), tag in any::<[u8; 16]>(), payload in proptest::collection::vec(any::<u8>(), 0..100)) {
            let r = match kind {
                0 => BinaryRequest::Send { recipient, payload },
                1 => BinaryRequest::SendAnonymous { recipient, reply_surbs: surbs, payload },
                _ => BinaryRequest::Reply { sender_tag: tag, payload },
            };
            prop_assert_eq!(BinaryRequest::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn decoding_arbitrary_frames_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = BinaryRequest::decode(&bytes);
        }
    }

    #[test]
    fn text_requests_decode_to_what_the_driver_needs() {
        match AppRequest::from_text(r#"{"type":"send","message":"hi","recipient":"r"}"#) {
            AppRequest::Send {
                recipient,
                payload,
                text,
                reply_surbs,
            } => {
                assert_eq!((recipient.as_str(), payload.as_slice()), ("r", &b"hi"[..]));
                assert!(text && reply_surbs.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            AppRequest::from_text(
                r#"{"type":"reply","message":"m","senderTag":"not base58 0OIl"}"#
            ),
            AppRequest::Invalid(_)
        ));
        assert!(matches!(AppRequest::from_text("{"), AppRequest::Invalid(_)));
        assert!(matches!(
            AppRequest::from_binary(&[]),
            AppRequest::Invalid(_)
        ));
    }
}
