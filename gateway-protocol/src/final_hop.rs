//! What an exit gateway finds in a packet's plaintext, in Nym's layout.
//!
//! Every non-ack packet starts with a SURB-ACK the sender prepared: the ack's first hop as a
//! node address zero-padded to 19 bytes (the longest, IPv6, form: version byte, port, IP),
//! then the whole 386-byte ack Sphinx packet; the message follows. The exit gateway delivers
//! the message and sends the ack packet to that first hop; the ack crosses the mixnet back
//! to the sender's gateway, which delivers its 21-byte plaintext (an encrypted fragment id)
//! to the sender. Ack packets themselves carry no SURB-ACK and are delivered whole.
//!
//! Nym's gateway forwards the ack even when storing the message failed; ours sends it only
//! once the message was written to the client's connection (within the write timeout) or the
//! mailbox committed it, and only to a first hop of the topology. A message in flight on a
//! connection that drops right after the write can still be lost after its ack; closing that
//! gap needs a client-side acknowledgement of live deliveries (left for the client work).

use std::net::SocketAddr;

use router_core::wire::{decode_node_address_strict, encode_node_address, PacketSize};

use crate::DeliveryKind;

/// Bytes of the ack's first-hop address (an IPv6 socket address with its version byte).
pub const ACK_ADDRESS_LEN: usize = 19;

/// Bytes of the SURB-ACK at the front of a non-ack plaintext: 19 + 386 = 405.
pub const SURB_ACK_LEN: usize = ACK_ADDRESS_LEN + PacketSize::Ack.size();

/// Why a plaintext cannot be delivered.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum FinalHopError {
    /// Shorter than the SURB-ACK it must start with.
    #[error("a plaintext of {0} bytes is shorter than its 405-byte SURB-ACK")]
    Truncated(usize),
    /// The ack's first hop is not a node address.
    #[error("the SURB-ACK's first hop is not a valid node address: {0}")]
    AckAddress(String),
}

/// What to do with one delivered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalHop<'a> {
    /// Message or ack.
    pub kind: DeliveryKind,
    /// What the client receives.
    pub bytes: &'a [u8],
    /// The ack to send into the mixnet once `bytes` is safe: its first hop and the packet.
    pub ack: Option<(SocketAddr, &'a [u8])>,
}

/// Splits the plaintext of a packet of class `size`; never panics.
pub fn split(size: PacketSize, plaintext: &[u8]) -> Result<FinalHop<'_>, FinalHopError> {
    if size == PacketSize::Ack {
        return Ok(FinalHop {
            kind: DeliveryKind::Ack,
            bytes: plaintext,
            ack: None,
        });
    }
    if plaintext.len() < SURB_ACK_LEN {
        return Err(FinalHopError::Truncated(plaintext.len()));
    }
    let (surb_ack, message) = plaintext.split_at(SURB_ACK_LEN);
    let (address, packet) = surb_ack.split_at(ACK_ADDRESS_LEN);
    let mut padded = [0u8; 32];
    padded[..ACK_ADDRESS_LEN].copy_from_slice(address);
    let first_hop = decode_node_address_strict(&padded)
        .map_err(|e| FinalHopError::AckAddress(e.to_string()))?;
    Ok(FinalHop {
        kind: DeliveryKind::Message,
        bytes: message,
        ack: Some((first_hop, packet)),
    })
}

/// The SURB-ACK prefix a sender puts before its message (the inverse of [`split`]).
pub fn surb_ack_prefix(first_hop: &SocketAddr, ack_packet: &[u8]) -> Option<Vec<u8>> {
    if ack_packet.len() != PacketSize::Ack.size() {
        return None;
    }
    let mut out = Vec::with_capacity(SURB_ACK_LEN);
    out.extend_from_slice(&encode_node_address(first_hop)[..ACK_ADDRESS_LEN]);
    out.extend_from_slice(ack_packet);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_message_splits_into_its_ack_and_the_rest() {
        let hop: SocketAddr = "[2001:db8::1]:1789".parse().unwrap();
        let ack = vec![0xAA; 386];
        let mut plaintext = surb_ack_prefix(&hop, &ack).unwrap();
        assert_eq!(plaintext.len(), 405);
        plaintext.extend_from_slice(b"hello");
        let split = split(PacketSize::Regular, &plaintext).unwrap();
        assert_eq!(split.kind, DeliveryKind::Message);
        assert_eq!(split.bytes, b"hello");
        assert_eq!(split.ack, Some((hop, &ack[..])));

        let v4: SocketAddr = "10.1.2.3:9".parse().unwrap();
        let prefix = surb_ack_prefix(&v4, &ack).unwrap();
        assert_eq!(
            &prefix[..7],
            &[4, 0, 9, 10, 1, 2, 3],
            "Nym's address layout"
        );
        assert!(prefix[7..19].iter().all(|b| *b == 0), "zero-padded to 19");
    }

    #[test]
    fn acks_are_delivered_whole_and_bad_prefixes_refused() {
        let ack_plaintext = [5u8; 21];
        let split_ack = split(PacketSize::Ack, &ack_plaintext).unwrap();
        assert_eq!(
            (split_ack.kind, split_ack.bytes, split_ack.ack),
            (DeliveryKind::Ack, &ack_plaintext[..], None)
        );
        assert_eq!(
            split(PacketSize::Regular, &[0; 404]),
            Err(FinalHopError::Truncated(404))
        );
        let mut bad = vec![9u8; 405];
        bad[0] = 5;
        assert!(matches!(
            split(PacketSize::Regular, &bad),
            Err(FinalHopError::AckAddress(_))
        ));
        assert_eq!(
            surb_ack_prefix(&"1.2.3.4:5".parse().unwrap(), &[0; 385]),
            None
        );
    }

    proptest! {
        #[test]
        fn arbitrary_plaintexts_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for size in PacketSize::ALL {
                let _ = split(size, &bytes);
            }
        }
    }
}
