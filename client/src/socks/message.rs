//! The tunnel protocol between the SOCKS5 client and the network requester: what one
//! mixnet message between them holds. The SOCKS5 client sends its messages anonymously (with
//! reply SURBs); the requester answers through those SURBs, so it never learns where the
//! client is.
//!
//! ```text
//! version u8 (1) | kind u8 | connection id u64 | body
//!   0 connect    (client → requester)  target | receive window u32
//!   1 connected  (requester → client)  receive window u32
//!   2 refused    (requester → client)  SOCKS5 reply code u8 | reason
//!   3 data       (both ways)           sequence number u64 | close u8 (0/1) | bytes
//!   4 window     (both ways)           bytes of the peer's data consumed so far u64
//!   5 reset      (both ways)           reason
//!   6 probe      (client → requester)  (empty; answered by `window`, or `reset` if unknown)
//! target = kind u8 (0 domain, 1 IPv4, 2 IPv6) | domain: length u8 + ASCII, IPv4: 4, IPv6: 16 | port u16
//! reason = length u8 | UTF-8 (at most 255 bytes)
//! ```
//!
//! Every message names its connection, so any number of connections share one mixnet
//! client; data is numbered per direction so the receiver can put it back in order (mixing
//! reorders messages on purpose); `close` ends a direction (a TCP half-close) and `reset`
//! ends the connection. Flow control is by window: a side sends at most `window` bytes beyond
//! what the other has reported consumed, so neither side can be made to buffer more.
//! Integers are big-endian.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::handshake::{Host, ReplyCode, TargetAddr};

/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Longest reason text, bytes.
pub const MAX_REASON_LEN: usize = 255;

/// One connection through the tunnel, chosen at random by the SOCKS5 client.
pub type ConnectionId = u64;

/// A tunnel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Open a TCP connection to `target`.
    Connect {
        /// The connection.
        id: ConnectionId,
        /// Where to (a domain is resolved by the requester).
        target: TargetAddr,
        /// Bytes the client will buffer for this connection.
        window: u32,
    },
    /// The connection is open.
    Connected {
        /// The connection.
        id: ConnectionId,
        /// Bytes the requester will buffer for this connection.
        window: u32,
    },
    /// The connection was not opened.
    Refused {
        /// The connection.
        id: ConnectionId,
        /// What to tell the app.
        code: ReplyCode,
        /// Why, for the logs.
        reason: String,
    },
    /// Bytes of one direction, numbered.
    Data {
        /// The connection.
        id: ConnectionId,
        /// Position in this direction, from 0.
        seq: u64,
        /// The sender will send nothing more in this direction after these bytes.
        close: bool,
        /// The bytes.
        data: Vec<u8>,
    },
    /// How many of the peer's bytes were consumed (written to the local socket).
    Window {
        /// The connection.
        id: ConnectionId,
        /// Bytes consumed since the connection opened.
        consumed: u64,
    },
    /// The connection is over, abnormally.
    Reset {
        /// The connection.
        id: ConnectionId,
        /// Why.
        reason: String,
    },
    /// Is this connection still open at the requester?
    Probe {
        /// The connection.
        id: ConnectionId,
    },
}

/// Why bytes are not a tunnel message.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// Ends inside a field.
    #[error("tunnel message truncated")]
    Truncated,
    /// Another protocol version.
    #[error("tunnel protocol version {0}, this speaks {VERSION}")]
    Version(u8),
    /// Unknown message kind.
    #[error("unknown tunnel message kind {0}")]
    Kind(u8),
    /// Unknown target address kind.
    #[error("unknown target address kind {0}")]
    AddressKind(u8),
    /// A domain that is empty or not printable ASCII.
    #[error("a target domain that is empty or not printable ASCII")]
    Domain,
    /// A close flag other than 0 or 1.
    #[error("a close flag of {0}")]
    Flag(u8),
    /// A reason that is not UTF-8.
    #[error("a reason that is not UTF-8")]
    Reason,
    /// Bytes after the end of a fixed-size message.
    #[error("{0} bytes after the end of the message")]
    Trailing(usize),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MessageError> {
        if self.0.len() < n {
            return Err(MessageError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MessageError> {
        self.take(N)?
            .try_into()
            .map_err(|_| MessageError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, MessageError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, MessageError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, MessageError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn reason(&mut self) -> Result<String, MessageError> {
        let len = self.u8()?;
        let bytes = self.take(usize::from(len))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| MessageError::Reason)
    }

    fn end(self) -> Result<(), MessageError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(MessageError::Trailing(n)),
        }
    }
}

/// `reason` cut to at most [`MAX_REASON_LEN`] bytes, at a character boundary.
fn clip(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn put_reason(out: &mut Vec<u8>, reason: &str) {
    let reason = clip(reason);
    // `clip` keeps it within a u8 length.
    out.push(reason.len() as u8);
    out.extend_from_slice(reason.as_bytes());
}

fn valid_domain(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic())
}

impl Message {
    /// The connection it is about.
    pub fn id(&self) -> ConnectionId {
        match self {
            Message::Connect { id, .. }
            | Message::Connected { id, .. }
            | Message::Refused { id, .. }
            | Message::Data { id, .. }
            | Message::Window { id, .. }
            | Message::Reset { id, .. }
            | Message::Probe { id } => *id,
        }
    }

    /// Its encoding. A domain longer than 255 bytes cannot be encoded (the SOCKS handshake
    /// never yields one); it is cut, and the requester then refuses the wrong name.
    pub fn encode(&self) -> Vec<u8> {
        let kind = match self {
            Message::Connect { .. } => 0u8,
            Message::Connected { .. } => 1,
            Message::Refused { .. } => 2,
            Message::Data { .. } => 3,
            Message::Window { .. } => 4,
            Message::Reset { .. } => 5,
            Message::Probe { .. } => 6,
        };
        let mut out = Vec::with_capacity(32);
        out.push(VERSION);
        out.push(kind);
        out.extend_from_slice(&self.id().to_be_bytes());
        match self {
            Message::Connect { target, window, .. } => {
                match &target.host {
                    Host::Domain(name) => {
                        let name = &name.as_bytes()[..name.len().min(255)];
                        out.push(0);
                        out.push(name.len() as u8);
                        out.extend_from_slice(name);
                    }
                    Host::Ip(IpAddr::V4(ip)) => {
                        out.push(1);
                        out.extend_from_slice(&ip.octets());
                    }
                    Host::Ip(IpAddr::V6(ip)) => {
                        out.push(2);
                        out.extend_from_slice(&ip.octets());
                    }
                }
                out.extend_from_slice(&target.port.to_be_bytes());
                out.extend_from_slice(&window.to_be_bytes());
            }
            Message::Connected { window, .. } => out.extend_from_slice(&window.to_be_bytes()),
            Message::Refused { code, reason, .. } => {
                out.push(*code as u8);
                put_reason(&mut out, reason);
            }
            Message::Data {
                seq, close, data, ..
            } => {
                out.extend_from_slice(&seq.to_be_bytes());
                out.push(u8::from(*close));
                out.extend_from_slice(data);
            }
            Message::Window { consumed, .. } => out.extend_from_slice(&consumed.to_be_bytes()),
            Message::Reset { reason, .. } => put_reason(&mut out, reason),
            Message::Probe { .. } => {}
        }
        out
    }

    /// Decodes a message (never panics, whatever the bytes).
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(MessageError::Version(version));
        }
        let kind = r.u8()?;
        let id = r.u64()?;
        let message = match kind {
            0 => {
                let host = match r.u8()? {
                    0 => {
                        let len = r.u8()?;
                        let name = r.take(usize::from(len))?;
                        if !valid_domain(name) {
                            return Err(MessageError::Domain);
                        }
                        // Printable ASCII is UTF-8.
                        Host::Domain(String::from_utf8_lossy(name).into_owned())
                    }
                    1 => Host::Ip(IpAddr::V4(Ipv4Addr::from(r.array::<4>()?))),
                    2 => Host::Ip(IpAddr::V6(Ipv6Addr::from(r.array::<16>()?))),
                    other => return Err(MessageError::AddressKind(other)),
                };
                let port = u16::from_be_bytes(r.array()?);
                let window = r.u32()?;
                r.end()?;
                Message::Connect {
                    id,
                    target: TargetAddr { host, port },
                    window,
                }
            }
            1 => {
                let window = r.u32()?;
                r.end()?;
                Message::Connected { id, window }
            }
            2 => {
                let code = ReplyCode::from(r.u8()?);
                let reason = r.reason()?;
                r.end()?;
                Message::Refused { id, code, reason }
            }
            3 => {
                let seq = r.u64()?;
                let close = match r.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(MessageError::Flag(other)),
                };
                Message::Data {
                    id,
                    seq,
                    close,
                    data: r.0.to_vec(),
                }
            }
            4 => {
                let consumed = r.u64()?;
                r.end()?;
                Message::Window { id, consumed }
            }
            5 => {
                let reason = r.reason()?;
                r.end()?;
                Message::Reset { id, reason }
            }
            6 => {
                r.end()?;
                Message::Probe { id }
            }
            other => return Err(MessageError::Kind(other)),
        };
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn target(host: Host) -> TargetAddr {
        TargetAddr { host, port: 8080 }
    }

    #[test]
    fn every_kind_round_trips() {
        let cases = [
            Message::Connect {
                id: 1,
                target: target(Host::Domain("example.com".into())),
                window: 1 << 20,
            },
            Message::Connect {
                id: 2,
                target: target(Host::Ip("10.1.2.3".parse().unwrap())),
                window: 0,
            },
            Message::Connect {
                id: 3,
                target: target(Host::Ip("::1".parse().unwrap())),
                window: 7,
            },
            Message::Connected {
                id: u64::MAX,
                window: 65536,
            },
            Message::Refused {
                id: 4,
                code: ReplyCode::NotAllowed,
                reason: "not on the allow list".into(),
            },
            Message::Data {
                id: 5,
                seq: 9,
                close: true,
                data: vec![0, 1, 2],
            },
            Message::Data {
                id: 5,
                seq: 10,
                close: false,
                data: Vec::new(),
            },
            Message::Window {
                id: 6,
                consumed: 123_456_789,
            },
            Message::Reset {
                id: 7,
                reason: "gone".into(),
            },
            Message::Probe { id: 8 },
        ];
        for m in cases {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m, "{m:?}");
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let m = Message::Connect {
            id: 0x0102_0304_0506_0708,
            target: target(Host::Domain("a.b".into())),
            window: 0x0a0b_0c0d,
        };
        assert_eq!(
            m.encode(),
            [
                1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 3, b'a', b'.', b'b', 0x1f, 0x90, 0x0a, 0x0b, 0x0c,
                0x0d
            ]
        );
        let d = Message::Data {
            id: 1,
            seq: 2,
            close: true,
            data: b"hi".to_vec(),
        };
        assert_eq!(
            d.encode(),
            [1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, b'h', b'i']
        );
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(Message::decode(&[]), Err(MessageError::Truncated));
        assert_eq!(Message::decode(&[2, 0]), Err(MessageError::Version(2)));
        let mut probe = Message::Probe { id: 1 }.encode();
        probe[1] = 9;
        assert_eq!(Message::decode(&probe), Err(MessageError::Kind(9)));
        probe[1] = 6;
        probe.push(0);
        assert_eq!(Message::decode(&probe), Err(MessageError::Trailing(1)));
        let mut data = Message::Data {
            id: 1,
            seq: 0,
            close: false,
            data: vec![],
        }
        .encode();
        data[18] = 2;
        assert_eq!(Message::decode(&data), Err(MessageError::Flag(2)));
        let mut connect = Message::Connect {
            id: 1,
            target: target(Host::Domain("a b".into())),
            window: 1,
        }
        .encode();
        assert_eq!(Message::decode(&connect), Err(MessageError::Domain));
        connect[10] = 3;
        assert_eq!(Message::decode(&connect), Err(MessageError::AddressKind(3)));
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let m = Message::Reset {
            id: 1,
            reason: "é".repeat(200),
        };
        let Message::Reset { reason, .. } = Message::decode(&m.encode()).unwrap() else {
            unreachable!("a reset decodes as a reset")
        };
        assert_eq!(reason, "é".repeat(127));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(m) = Message::decode(&bytes) {
                prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
            }
        }

        #[test]
        fn data_round_trips(id: u64, seq: u64, close: bool, data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let m = Message::Data { id, seq, close, data };
            prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }
}
