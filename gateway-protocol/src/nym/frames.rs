//! Nym's binary frames: `kind (1) ‖ encrypted flag (1) ‖ nonce (12) ‖ sealed body`, the body
//! sealed under the client's shared key ([`NymSharedKey`]).
//!
//! * Client → gateway, kind 2 (protocol 5 and later): `packet type (1) ‖ key-rotation byte
//!   (1) ‖ first hop ‖ Sphinx packet`; kind 1 (protocol 4): the same without the rotation
//!   byte. The first hop is a node address without padding: `4 ‖ port (BE) ‖ IPv4` (7
//!   bytes) or `6 ‖ port ‖ IPv6` (19). The packet is exactly one of the five Sphinx sizes;
//!   packet type 0 is Sphinx (Nym's Outfox, 2, is refused).
//! * Gateway → client, kind 1: one delivered message (or ack plaintext) per frame.
//!
//! Both ends always set the encrypted flag; an unencrypted frame is refused.

use std::net::SocketAddr;

use router_core::wire::{
    decode_node_address_strict, encode_node_address, KeyRotation, PacketSize, NODE_ADDRESS_LEN,
};

use super::shared_key::{NymSharedKey, NONCE_LEN};

/// A forwarded packet, protocol 4.
pub const FORWARD_SPHINX: u8 = 1;
/// A forwarded packet with its key-rotation byte, protocol 5 and later.
pub const FORWARD_SPHINX_V2: u8 = 2;
/// A delivered message.
pub const PUSHED_MIX_MESSAGE: u8 = 1;
/// Bytes before the sealed body.
pub const ENVELOPE_LEN: usize = 2 + NONCE_LEN;

const ENCRYPTED: u8 = 1;
const PACKET_TYPE_SPHINX: u8 = 0;

/// Why a binary frame is refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum NymFrameError {
    /// Shorter than its fixed part.
    #[error("a frame of {0} bytes is too short")]
    Truncated(usize),
    /// A kind we do not take.
    #[error("unknown binary frame kind {0}")]
    Kind(u8),
    /// The encrypted flag is not set.
    #[error("binary frames must be encrypted (flag {0})")]
    NotEncrypted(u8),
    /// The body does not open under the client's key.
    #[error("the frame does not open under the client's key")]
    Sealed,
    /// Not a Sphinx packet.
    #[error("packet type {0} is not Sphinx")]
    PacketType(u8),
    /// A key-rotation byte other than 0, 1 and 2.
    #[error("unknown key rotation byte {0}")]
    KeyRotation(u8),
    /// The first hop is not a node address.
    #[error("invalid first hop address")]
    Address,
    /// The packet is not one of the Sphinx sizes.
    #[error("a packet of {0} bytes is not one of the Sphinx packet sizes")]
    PacketSize(usize),
}

/// A packet a client asks the gateway to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardPacket<'a> {
    /// The rotation whose keys built it.
    pub key_rotation: KeyRotation,
    /// Where it goes (a layer-1 mixnode).
    pub first_hop: SocketAddr,
    /// Its size class.
    pub size: PacketSize,
    /// The Sphinx packet.
    pub packet: &'a [u8],
}

/// Opens a client's frame: its kind and body.
pub fn open(key: &NymSharedKey, frame: &[u8]) -> Result<(u8, Vec<u8>), NymFrameError> {
    if frame.len() < ENVELOPE_LEN {
        return Err(NymFrameError::Truncated(frame.len()));
    }
    if frame[1] != ENCRYPTED {
        return Err(NymFrameError::NotEncrypted(frame[1]));
    }
    let nonce: [u8; NONCE_LEN] = frame[2..ENVELOPE_LEN].try_into().expect("12 bytes");
    let body = key
        .open(&nonce, &frame[ENVELOPE_LEN..])
        .map_err(|_| NymFrameError::Sealed)?;
    Ok((frame[0], body))
}

/// Seals `body` as a frame of `kind`.
pub fn seal(key: &NymSharedKey, kind: u8, nonce: [u8; NONCE_LEN], body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(ENVELOPE_LEN + body.len() + super::shared_key::TAG_LEN);
    frame.extend_from_slice(&[kind, ENCRYPTED]);
    frame.extend_from_slice(&nonce);
    frame.extend(key.seal(&nonce, body));
    frame
}

/// Parses the body of a forward frame of `kind`.
pub fn parse_forward(kind: u8, body: &[u8]) -> Result<ForwardPacket<'_>, NymFrameError> {
    let with_rotation = match kind {
        FORWARD_SPHINX => false,
        FORWARD_SPHINX_V2 => true,
        other => return Err(NymFrameError::Kind(other)),
    };
    let (&packet_type, rest) = body.split_first().ok_or(NymFrameError::Truncated(0))?;
    if packet_type != PACKET_TYPE_SPHINX {
        return Err(NymFrameError::PacketType(packet_type));
    }
    let (key_rotation, rest) = if with_rotation {
        let (&byte, rest) = rest.split_first().ok_or(NymFrameError::Truncated(1))?;
        let rotation =
            KeyRotation::from_byte(byte).map_err(|_| NymFrameError::KeyRotation(byte))?;
        (rotation, rest)
    } else {
        (KeyRotation::Unknown, rest)
    };
    let address_len = match rest.first() {
        Some(4) => 7,
        Some(6) => 19,
        Some(_) => return Err(NymFrameError::Address),
        None => return Err(NymFrameError::Truncated(body.len())),
    };
    if rest.len() < address_len {
        return Err(NymFrameError::Truncated(body.len()));
    }
    let mut padded = [0u8; NODE_ADDRESS_LEN];
    padded[..address_len].copy_from_slice(&rest[..address_len]);
    let first_hop = decode_node_address_strict(&padded).map_err(|_| NymFrameError::Address)?;
    let packet = &rest[address_len..];
    let size =
        PacketSize::from_packet_len(packet.len()).ok_or(NymFrameError::PacketSize(packet.len()))?;
    Ok(ForwardPacket {
        key_rotation,
        first_hop,
        size,
        packet,
    })
}

/// The body of a kind 2 frame (what Nym's client sends; for tests and tools).
pub fn forward_body(key_rotation: KeyRotation, first_hop: &SocketAddr, packet: &[u8]) -> Vec<u8> {
    let address = encode_node_address(first_hop);
    let address_len = if first_hop.is_ipv4() { 7 } else { 19 };
    let mut body = vec![PACKET_TYPE_SPHINX, key_rotation.as_byte()];
    body.extend_from_slice(&address[..address_len]);
    body.extend_from_slice(packet);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> NymSharedKey {
        NymSharedKey::from_bytes([3; 32])
    }

    fn hop() -> SocketAddr {
        "127.0.0.1:1789".parse().unwrap()
    }

    #[test]
    fn a_forward_frame_round_trips_for_every_size_and_address_kind() {
        for size in PacketSize::ALL {
            for first_hop in [hop(), "[2001:db8::1]:9".parse().unwrap()] {
                let packet = vec![0xab; size.size()];
                let body = forward_body(KeyRotation::Odd, &first_hop, &packet);
                assert_eq!(
                    body.len(),
                    2 + if first_hop.is_ipv4() { 7 } else { 19 } + size.size()
                );
                let frame = seal(&key(), FORWARD_SPHINX_V2, [9; 12], &body);
                assert_eq!(frame.len(), 14 + body.len() + 16);
                let (kind, opened) = open(&key(), &frame).unwrap();
                assert_eq!(
                    parse_forward(kind, &opened).unwrap(),
                    ForwardPacket {
                        key_rotation: KeyRotation::Odd,
                        first_hop,
                        size,
                        packet: &packet
                    }
                );
            }
        }
    }

    #[test]
    fn a_protocol_4_frame_has_no_rotation_byte() {
        let packet = vec![1; PacketSize::Ack.size()];
        let mut body = forward_body(KeyRotation::Even, &hop(), &packet);
        body.remove(1);
        let parsed = parse_forward(FORWARD_SPHINX, &body).unwrap();
        assert_eq!(
            (parsed.key_rotation, parsed.first_hop),
            (KeyRotation::Unknown, hop())
        );
    }

    #[test]
    fn malformed_frames_are_refused_without_panicking() {
        let packet = vec![1; PacketSize::Regular.size()];
        let body = forward_body(KeyRotation::Even, &hop(), &packet);
        let frame = seal(&key(), FORWARD_SPHINX_V2, [9; 12], &body);
        assert_eq!(
            open(&key(), &frame[..13]),
            Err(NymFrameError::Truncated(13))
        );
        let mut plain = frame.clone();
        plain[1] = 0;
        assert_eq!(open(&key(), &plain), Err(NymFrameError::NotEncrypted(0)));
        let mut tampered = frame.clone();
        tampered[20] ^= 1;
        assert_eq!(open(&key(), &tampered), Err(NymFrameError::Sealed));
        assert_eq!(parse_forward(3, &body), Err(NymFrameError::Kind(3)));
        let mut outfox = body.clone();
        outfox[0] = 2;
        assert_eq!(parse_forward(2, &outfox), Err(NymFrameError::PacketType(2)));
        let mut rotation = body.clone();
        rotation[1] = 3;
        assert_eq!(
            parse_forward(2, &rotation),
            Err(NymFrameError::KeyRotation(3))
        );
        let mut address = body.clone();
        address[2] = 5;
        assert_eq!(parse_forward(2, &address), Err(NymFrameError::Address));
        assert_eq!(
            parse_forward(2, &body[..body.len() - 1]),
            Err(NymFrameError::PacketSize(packet.len() - 1))
        );
        for len in 0..12 {
            assert!(parse_forward(2, &body[..len]).is_err(), "{len} bytes");
        }
    }
}
