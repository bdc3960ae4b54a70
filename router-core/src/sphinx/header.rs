//! The header half of a hop: MAC check and in-place routing-information peeling.
//!
//! Beta is decrypted with AES-128-CTR (zero IV) keyed by the hop's stream key. Conceptually the
//! node appends 60 zero bytes to beta before decrypting, reads its own slot from the first 60
//! bytes, and the remaining 300 bytes become the next hop's beta. In place that is: decrypt the
//! first slot, and for a forward hop decrypt the other 240 bytes, shift them up by one slot and
//! write the next 60 bytes of keystream after them. The shift is a 240-byte `memmove` inside the
//! header; the packet itself never leaves its buffer.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::constants::{
    DELAY_SIZE, DESTINATION_SIZE, FINAL_HOP, FLAG_SIZE, FORWARD_HOP, HEADER_SIZE, HOP_SLOT_SIZE,
    IDENTIFIER_SIZE, MAC_KEY_SIZE, MAC_OFFSET, MAC_SIZE, NODE_ADDRESS_SIZE, ROUTING_INFO_OFFSET,
    ROUTING_INFO_SIZE, STREAM_KEY_SIZE, VERSION_SIZE,
};
use super::keys::sub;
use super::unwrap::Hop;
use super::version::SphinxVersion;
use super::{Delay, UnwrapError};

type Aes128Ctr = ctr::Ctr64BE<Aes128>;
type HmacSha256 = hmac::Hmac<Sha256>;

/// Offsets inside one decrypted routing slot.
const VERSION_AT: usize = FLAG_SIZE;
const ADDRESS_AT: usize = VERSION_AT + VERSION_SIZE;
const DELAY_AT: usize = ADDRESS_AT + NODE_ADDRESS_SIZE;
const NEXT_MAC_AT: usize = DELAY_AT + DELAY_SIZE;
const IDENTIFIER_AT: usize = ADDRESS_AT + DESTINATION_SIZE;

/// Whether gamma is the HMAC-SHA256 (truncated to 16 bytes) of beta under `mac_key`, compared
/// in constant time.
pub(crate) fn mac_is_valid(header: &[u8; HEADER_SIZE], mac_key: &[u8; MAC_KEY_SIZE]) -> bool {
    let mut mac = HmacSha256::new_from_slice(mac_key).expect("HMAC accepts keys of any length");
    mac.update(sub::<HEADER_SIZE, ROUTING_INFO_OFFSET, ROUTING_INFO_SIZE>(
        header,
    ));
    let computed = mac.finalize().into_bytes();
    let gamma = sub::<HEADER_SIZE, MAC_OFFSET, MAC_SIZE>(header);
    computed
        .get(..MAC_SIZE)
        .is_some_and(|truncated| bool::from(truncated.ct_eq(gamma)))
}

/// Decrypts this hop's routing slot and, for a forward hop, turns gamma and beta into the next
/// hop's in place. Alpha is left alone: blinding it needs a scalar multiplication, which the
/// caller schedules (see [`super::unwrap`]). Call only after [`mac_is_valid`].
pub(crate) fn peel_routing(
    header: &mut [u8; HEADER_SIZE],
    stream_key: &[u8; STREAM_KEY_SIZE],
) -> Result<(SphinxVersion, Hop), UnwrapError> {
    let mut keystream = Aes128Ctr::new(stream_key.into(), &[0u8; 16].into());

    let (alpha_gamma, beta) = header.split_at_mut(ROUTING_INFO_OFFSET);
    let (slot, rest) = beta.split_at_mut(HOP_SLOT_SIZE);
    keystream.apply_keystream(slot);
    let slot: [u8; HOP_SLOT_SIZE] = (&*slot)
        .try_into()
        .expect("split_at_mut(HOP_SLOT_SIZE) yields exactly one slot");

    let flag = slot[0];
    if flag != FORWARD_HOP && flag != FINAL_HOP {
        return Err(UnwrapError::UnknownRoutingFlag(flag));
    }
    let version_bytes = *sub::<HOP_SLOT_SIZE, VERSION_AT, VERSION_SIZE>(&slot);
    let version = SphinxVersion::from_bytes(version_bytes)
        .ok_or(UnwrapError::UnknownVersion(version_bytes))?;

    if flag == FINAL_HOP {
        let destination = *sub::<HOP_SLOT_SIZE, ADDRESS_AT, DESTINATION_SIZE>(&slot);
        let identifier = *sub::<HOP_SLOT_SIZE, IDENTIFIER_AT, IDENTIFIER_SIZE>(&slot);
        return Ok((
            version,
            Hop::Final {
                destination,
                identifier,
            },
        ));
    }

    let next_hop = *sub::<HOP_SLOT_SIZE, ADDRESS_AT, NODE_ADDRESS_SIZE>(&slot);
    let delay = Delay::from_nanos(u64::from_be_bytes(*sub::<
        HOP_SLOT_SIZE,
        DELAY_AT,
        DELAY_SIZE,
    >(&slot)));
    let next_mac = sub::<HOP_SLOT_SIZE, NEXT_MAC_AT, MAC_SIZE>(&slot);

    // The next beta: our decrypted beta without our slot, followed by 60 more keystream bytes
    // (the decryption of the zero padding).
    keystream.apply_keystream(rest);
    beta.copy_within(HOP_SLOT_SIZE.., 0);
    let (_, tail) = beta.split_at_mut(ROUTING_INFO_SIZE - HOP_SLOT_SIZE);
    tail.fill(0);
    keystream.apply_keystream(tail);

    let (_, gamma) = alpha_gamma.split_at_mut(MAC_OFFSET);
    gamma.copy_from_slice(next_mac);

    Ok((version, Hop::Forward { next_hop, delay }))
}
