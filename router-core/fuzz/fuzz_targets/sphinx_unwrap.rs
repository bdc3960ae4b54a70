//! Fuzz target for the Sphinx unwrap entry point: arbitrary bytes, of any length, never panic.
//!
//! The first byte picks a packet size to pad or cut the input to (so the interesting sizes are
//! reached, not only "wrong length"), or leaves the length as it is; the rest is the packet.
//! Random headers almost never pass the MAC, so the target also checks the invariants that do
//! hold: a refused packet of a valid size is left untouched unless the MAC verified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use router_core::sphinx::{unwrap_in_place, SphinxSecretKey, UnwrapError};
use router_core::wire::PacketSize;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let mut packet = rest.to_vec();
    if let Some(size) = PacketSize::ALL.get(usize::from(*selector % 8)) {
        packet.resize(size.size(), 0);
    }
    let before = packet.clone();
    let key = SphinxSecretKey::from_bytes([0x42; 32]);
    match unwrap_in_place(&mut packet, &key) {
        Ok(_) => {}
        Err(
            UnwrapError::InvalidLength(_) | UnwrapError::NonCanonicalAlpha | UnwrapError::HeaderMac,
        ) => assert_eq!(
            packet, before,
            "a packet refused before the MAC was modified"
        ),
        Err(_) => {}
    }
});
