//! Processing one packet in place, whole or in phases.
//!
//! A hop costs two variable-base scalar multiplications that depend on each other only through
//! the header: first `s = X25519(node_secret, alpha)`, then, once the header has been checked,
//! `alpha' = X25519(blinding_factor, alpha)`. The phased API exposes that split so the batch
//! unwrapper can run all packets' first multiplications together, then all second ones:
//!
//! 1. [`read_alpha`] (validates the packet size),
//! 2. `X25519(secret, alpha)` by any means (see [`SphinxSecretKey::shared_secret`]),
//! 3. [`peel_with_shared_secret`]: MAC check, routing and payload decryption, all in place,
//! 4. for a forward hop, `X25519(blinding_factor, alpha)` written back with [`write_alpha`].
//!
//! [`unwrap_in_place`] does the four steps for one packet.

use zeroize::Zeroizing;

use super::constants::{ALPHA_OFFSET, ALPHA_SIZE, BLINDING_FACTOR_SIZE, HEADER_SIZE};
use super::header::{mac_is_valid, peel_routing};
use super::keys::{ExpandedSecret, ReplayTag, SphinxSecretKey};
use super::payload::peel_payload;
use super::version::SphinxVersion;
use super::{Delay, DestinationAddress, NodeAddressBytes, SurbIdentifier, UnwrapError};
use crate::crypto::x25519::x25519;
use crate::wire::PacketSize;

/// What a node learnt from peeling its layer. The packet buffer holds the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unwrapped {
    /// The version read from the routing slot.
    pub version: SphinxVersion,
    /// This hop's replay tag; only produced once the header MAC has verified.
    pub replay_tag: ReplayTag,
    /// Where the packet goes next.
    pub hop: Hop,
}

/// The routing decision of one hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// The buffer now holds the packet for `next_hop` (same size), to be sent after `delay`.
    Forward {
        next_hop: NodeAddressBytes,
        delay: Delay,
    },
    /// This node is the last hop: the buffer's bytes after the header are the payload with this
    /// node's layer removed.
    Final {
        destination: DestinationAddress,
        identifier: SurbIdentifier,
    },
}

/// The result of [`peel_with_shared_secret`]: the routing decision, and for a forward hop the
/// blinding factor still to be applied to alpha.
#[derive(Debug)]
pub struct Peeled {
    pub unwrapped: Unwrapped,
    blinding_factor: Option<Zeroizing<[u8; BLINDING_FACTOR_SIZE]>>,
}

impl Peeled {
    /// The scalar that blinds alpha for the next hop (a forward hop only). It is clamped by
    /// X25519 like any other scalar.
    pub fn blinding_factor(&self) -> Option<&[u8; BLINDING_FACTOR_SIZE]> {
        self.blinding_factor.as_deref()
    }
}

/// Splits a packet into its header and payload, refusing any length that is not one of Nym's
/// packet sizes (a truncated, padded or oversized buffer).
pub fn split_packet(packet: &mut [u8]) -> Result<(&mut [u8; HEADER_SIZE], &mut [u8]), UnwrapError> {
    let len = packet.len();
    if PacketSize::from_packet_len(len).is_none() {
        return Err(UnwrapError::InvalidLength(len));
    }
    packet
        .split_first_chunk_mut::<HEADER_SIZE>()
        .ok_or(UnwrapError::InvalidLength(len))
}

/// Alpha, the group element at the start of the header, after checking the packet's size and
/// that alpha is canonical.
///
/// X25519 ignores bit 255 of its input and reduces values at or above p = 2^255 - 19, so a
/// non-canonical alpha gives the same shared secret as a canonical one: flipping that bit of
/// a valid packet would still pass the MAC. Every sender's alpha is an X25519 output, which is
/// always canonical, so refusing the others loses no honest packet and makes every header bit
/// count. (`sphinx-packet` accepts them; this is a deliberate difference.)
pub fn read_alpha(packet: &[u8]) -> Result<[u8; ALPHA_SIZE], UnwrapError> {
    let len = packet.len();
    if PacketSize::from_packet_len(len).is_none() {
        return Err(UnwrapError::InvalidLength(len));
    }
    let alpha: [u8; ALPHA_SIZE] = packet
        .get(ALPHA_OFFSET..ALPHA_OFFSET + ALPHA_SIZE)
        .and_then(|alpha| alpha.try_into().ok())
        .ok_or(UnwrapError::InvalidLength(len))?;
    if !is_canonical_field_element(&alpha) {
        return Err(UnwrapError::NonCanonicalAlpha);
    }
    Ok(alpha)
}

/// Whether little-endian `u` is below p = 2^255 - 19. Alpha is public: no need for constant time.
fn is_canonical_field_element(u: &[u8; 32]) -> bool {
    let [low, middle @ .., high] = u;
    match *high {
        0..=0x7e => true,
        0x7f => !(middle.iter().all(|b| *b == 0xff) && *low >= 0xed),
        _ => false,
    }
}

/// Replaces alpha with the blinded one for the next hop.
pub fn write_alpha(packet: &mut [u8], alpha: &[u8; ALPHA_SIZE]) -> Result<(), UnwrapError> {
    let len = packet.len();
    let slot = packet
        .get_mut(ALPHA_OFFSET..ALPHA_OFFSET + ALPHA_SIZE)
        .ok_or(UnwrapError::InvalidLength(len))?;
    slot.copy_from_slice(alpha);
    Ok(())
}

/// Step 3 of the module docs: everything but the two scalar multiplications.
///
/// On error the packet must be dropped: once the MAC has verified, a failure (an unknown flag or
/// version) may have left the routing information half decrypted. A MAC failure or a bad length
/// leaves the buffer untouched.
pub fn peel_with_shared_secret(
    packet: &mut [u8],
    shared_secret: &[u8; 32],
) -> Result<Peeled, UnwrapError> {
    let (header, payload) = split_packet(packet)?;
    let expanded = ExpandedSecret::expand(shared_secret);
    if !mac_is_valid(header, expanded.mac_key()) {
        return Err(UnwrapError::HeaderMac);
    }
    let (version, hop) = peel_routing(header, expanded.stream_key())?;
    let payload_key = expanded.payload_key(version);
    if !peel_payload(payload, &payload_key) {
        return Err(UnwrapError::InvalidLength(HEADER_SIZE + payload.len()));
    }
    let blinding_factor = match hop {
        Hop::Forward { .. } => Some(Zeroizing::new(*expanded.blinding_factor())),
        Hop::Final { .. } => None,
    };
    Ok(Peeled {
        unwrapped: Unwrapped {
            version,
            replay_tag: *expanded.replay_tag(),
            hop,
        },
        blinding_factor,
    })
}

/// Peels this node's layer off `packet` in place: the buffer afterwards holds the packet for the
/// next hop, or the final payload. The same result as `sphinx-packet`'s `SphinxPacket::process`
/// for every input it accepts, without allocating.
pub fn unwrap_in_place(packet: &mut [u8], key: &SphinxSecretKey) -> Result<Unwrapped, UnwrapError> {
    let alpha = read_alpha(packet)?;
    let shared_secret = key.shared_secret(&alpha);
    let peeled = peel_with_shared_secret(packet, &shared_secret)?;
    if let Some(blinding_factor) = peeled.blinding_factor() {
        let blinded = x25519(blinding_factor, &alpha);
        write_alpha(packet, &blinded)?;
    }
    Ok(peeled.unwrapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(value_minus_p: i64) -> [u8; 32] {
        // p + value_minus_p for small offsets, little-endian
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut carry = value_minus_p;
        for byte in p.iter_mut() {
            let sum = i64::from(*byte) + carry;
            *byte = sum.rem_euclid(256) as u8;
            carry = sum.div_euclid(256);
        }
        p
    }

    #[test]
    fn canonical_means_below_p() {
        assert!(is_canonical_field_element(&[0; 32]));
        assert!(is_canonical_field_element(&le(-1)));
        assert!(!is_canonical_field_element(&le(0)));
        assert!(!is_canonical_field_element(&le(1)));
        assert!(!is_canonical_field_element(&le(18)));
        let mut top_bit = [0u8; 32];
        top_bit[31] = 0x80;
        assert!(!is_canonical_field_element(&top_bit));
        let mut below = [0xffu8; 32];
        below[31] = 0x7e;
        assert!(is_canonical_field_element(&below));
    }
}
