//! What binary frames carry, once opened.
//!
//! Client to gateway: `0x01 ‖ first hop (32-byte Sphinx node address) ‖ Sphinx packet`, the
//! packet exactly one of Nym's packet sizes; `0x03 ‖ key-rotation byte ‖ first hop ‖ Sphinx
//! packet`, the same with the rotation whose keys the packet was built with (the byte of a
//! v8 frame header: 0 unknown, 1 odd, 2 even), which the gateway puts in the frame it
//! forwards, as Nym's protocol 5 does; or `0x02 ‖ JSON` for a control request once
//! authenticated (`ready`, `received`, `bandwidth`: sealed, so nobody on the path can forge a
//! deletion or steal a credential, and the first one proves the client holds the session
//! key). Gateway to client: a kind byte, for mailbox
//! messages an id, then the bytes the exit gateway recovered (a message, or an ack's 21-byte
//! plaintext):
//!
//! | kind | meaning | then |
//! |---|---|---|
//! | 1 | live message | message |
//! | 2 | live ack | ack plaintext |
//! | 3 | stored message | id (u64 BE) ‖ message |
//! | 4 | stored ack | id (u64 BE) ‖ ack plaintext |
//!
//! Stored items stay in the mailbox until the client names their ids in a `received` text
//! frame.

use std::net::SocketAddr;

use router_core::wire::{decode_node_address_strict, encode_node_address, KeyRotation, PacketSize};

const CLIENT_PACKET: u8 = 1;
const CLIENT_CONTROL: u8 = 2;
const CLIENT_PACKET_WITH_ROTATION: u8 = 3;
const LIVE_MESSAGE: u8 = 1;
const LIVE_ACK: u8 = 2;
const STORED_MESSAGE: u8 = 3;
const STORED_ACK: u8 = 4;
const ADDRESS_LEN: usize = 32;

/// A frame that does not parse.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Empty, or an unknown kind byte.
    #[error("unknown frame kind {0:?}")]
    UnknownKind(Option<u8>),
    /// Shorter than its fixed part.
    #[error("a frame of {0} bytes is too short")]
    Truncated(usize),
    /// The key-rotation byte is not 0, 1 or 2.
    #[error("unknown key rotation byte {0}")]
    KeyRotation(u8),
    /// The first hop is not a valid node address.
    #[error("invalid first hop address: {0}")]
    Address(String),
    /// The packet is not one of the Sphinx packet sizes.
    #[error("a packet of {0} bytes is not one of the Sphinx packet sizes")]
    PacketSize(usize),
}

/// Whether a delivery is a message or an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// A message (the plaintext after the SURB-ack).
    Message,
    /// An ack packet's plaintext, for the client's retransmission logic.
    Ack,
}

impl DeliveryKind {
    /// The byte the mailbox stores.
    pub fn to_byte(self) -> u8 {
        match self {
            DeliveryKind::Message => 1,
            DeliveryKind::Ack => 2,
        }
    }

    /// Reads a stored byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(DeliveryKind::Message),
            2 => Some(DeliveryKind::Ack),
            _ => None,
        }
    }
}

/// An opened client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// A Sphinx packet for the mixnet.
    Packet {
        /// Where the gateway sends it (a layer-1 mixnode).
        first_hop: SocketAddr,
        /// Its size class.
        size: PacketSize,
        /// The rotation whose keys it was built with (`Unknown` from a `0x01` frame).
        key_rotation: KeyRotation,
        /// The packet.
        packet: &'a [u8],
    },
    /// A control request (JSON of a [`ClientControl`](super::ClientControl)).
    Control(&'a [u8]),
}

impl<'a> ClientFrame<'a> {
    /// Parses an opened frame; never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let (key_rotation, start) = match bytes.first() {
            Some(&CLIENT_PACKET) => (KeyRotation::Unknown, 1),
            Some(&CLIENT_PACKET_WITH_ROTATION) => {
                let byte = *bytes.get(1).ok_or(FrameError::Truncated(bytes.len()))?;
                let rotation =
                    KeyRotation::from_byte(byte).map_err(|_| FrameError::KeyRotation(byte))?;
                (rotation, 2)
            }
            Some(&CLIENT_CONTROL) => return Ok(ClientFrame::Control(&bytes[1..])),
            other => return Err(FrameError::UnknownKind(other.copied())),
        };
        let address: &[u8; ADDRESS_LEN] = bytes
            .get(start..start + ADDRESS_LEN)
            .and_then(|a| a.try_into().ok())
            .ok_or(FrameError::Truncated(bytes.len()))?;
        let first_hop =
            decode_node_address_strict(address).map_err(|e| FrameError::Address(e.to_string()))?;
        let packet = &bytes[start + ADDRESS_LEN..];
        let size = PacketSize::from_packet_len(packet.len())
            .ok_or(FrameError::PacketSize(packet.len()))?;
        Ok(ClientFrame::Packet {
            first_hop,
            size,
            key_rotation,
            packet,
        })
    }

    /// Encodes a control frame.
    pub fn encode_control(request: &super::ClientControl) -> Vec<u8> {
        let mut out = vec![CLIENT_CONTROL];
        out.extend_from_slice(request.to_json().as_bytes());
        out
    }

    /// Encodes a packet frame: kind `0x01` when the rotation is unknown, else `0x03` with
    /// the rotation's byte.
    pub fn encode_packet(
        first_hop: &SocketAddr,
        key_rotation: KeyRotation,
        packet: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + ADDRESS_LEN + packet.len());
        match key_rotation {
            KeyRotation::Unknown => out.push(CLIENT_PACKET),
            known => out.extend_from_slice(&[CLIENT_PACKET_WITH_ROTATION, known.as_byte()]),
        }
        out.extend_from_slice(&encode_node_address(first_hop));
        out.extend_from_slice(packet);
        out
    }
}

/// An opened gateway frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayFrame<'a> {
    /// Message or ack.
    pub kind: DeliveryKind,
    /// The mailbox id, for stored items.
    pub stored_id: Option<u64>,
    /// The delivered bytes.
    pub bytes: &'a [u8],
}

impl<'a> GatewayFrame<'a> {
    /// Parses an opened frame; never panics.
    pub fn decode(frame: &'a [u8]) -> Result<Self, FrameError> {
        let (&tag, rest) = frame.split_first().ok_or(FrameError::UnknownKind(None))?;
        let (kind, stored) = match tag {
            LIVE_MESSAGE => (DeliveryKind::Message, false),
            LIVE_ACK => (DeliveryKind::Ack, false),
            STORED_MESSAGE => (DeliveryKind::Message, true),
            STORED_ACK => (DeliveryKind::Ack, true),
            other => return Err(FrameError::UnknownKind(Some(other))),
        };
        if !stored {
            return Ok(GatewayFrame {
                kind,
                stored_id: None,
                bytes: rest,
            });
        }
        let id: [u8; 8] = rest
            .get(..8)
            .and_then(|id| id.try_into().ok())
            .ok_or(FrameError::Truncated(frame.len()))?;
        Ok(GatewayFrame {
            kind,
            stored_id: Some(u64::from_be_bytes(id)),
            bytes: &rest[8..],
        })
    }

    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.bytes.len());
        let tag = match (self.kind, self.stored_id) {
            (DeliveryKind::Message, None) => LIVE_MESSAGE,
            (DeliveryKind::Ack, None) => LIVE_ACK,
            (DeliveryKind::Message, Some(_)) => STORED_MESSAGE,
            (DeliveryKind::Ack, Some(_)) => STORED_ACK,
        };
        out.push(tag);
        if let Some(id) = self.stored_id {
            out.extend_from_slice(&id.to_be_bytes());
        }
        out.extend_from_slice(self.bytes);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packet_frames_round_trip_and_bad_sizes_are_refused() {
        let hop: SocketAddr = "127.0.0.1:1789".parse().unwrap();
        let packet = vec![7u8; PacketSize::Regular.size()];
        for key_rotation in [KeyRotation::Unknown, KeyRotation::Odd, KeyRotation::Even] {
            let frame = ClientFrame::encode_packet(&hop, key_rotation, &packet);
            assert_eq!(frame[0] == 1, key_rotation == KeyRotation::Unknown);
            assert_eq!(
                ClientFrame::decode(&frame).unwrap(),
                ClientFrame::Packet {
                    first_hop: hop,
                    size: PacketSize::Regular,
                    key_rotation,
                    packet: &packet
                }
            );
        }
        let mut bad_rotation = ClientFrame::encode_packet(&hop, KeyRotation::Odd, &packet);
        bad_rotation[1] = 3;
        assert_eq!(
            ClientFrame::decode(&bad_rotation),
            Err(FrameError::KeyRotation(3))
        );
        assert_eq!(ClientFrame::decode(&[3]), Err(FrameError::Truncated(1)));
        let short = ClientFrame::encode_packet(&hop, KeyRotation::Unknown, &packet[1..]);
        assert_eq!(
            ClientFrame::decode(&short),
            Err(FrameError::PacketSize(packet.len() - 1))
        );
        assert_eq!(ClientFrame::decode(&[]), Err(FrameError::UnknownKind(None)));
        assert_eq!(
            ClientFrame::decode(&[9]),
            Err(FrameError::UnknownKind(Some(9)))
        );
        let ready = ClientFrame::encode_control(&crate::ClientControl::Ready);
        assert_eq!(
            ClientFrame::decode(&ready),
            Ok(ClientFrame::Control(br#"{"type":"ready"}"#))
        );
        assert_eq!(ClientFrame::decode(&[1, 4]), Err(FrameError::Truncated(2)));
    }

    #[test]
    fn gateway_frames_round_trip() {
        for kind in [DeliveryKind::Message, DeliveryKind::Ack] {
            for stored_id in [None, Some(0), Some(u64::MAX)] {
                let frame = GatewayFrame {
                    kind,
                    stored_id,
                    bytes: b"payload",
                };
                assert_eq!(GatewayFrame::decode(&frame.encode()).unwrap(), frame);
            }
        }
        assert_eq!(
            GatewayFrame::decode(&[3, 0, 0]),
            Err(FrameError::Truncated(3))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = ClientFrame::decode(&bytes);
            let _ = GatewayFrame::decode(&bytes);
        }
    }
}
