//! Splits an arbitrary plaintext the way an exit gateway splits what it recovered from a
//! packet (the first byte picks the packet size class, the rest is the plaintext), and checks
//! that nothing panics and that the split is exact: an ack is delivered whole, a message is
//! the bytes after a 405-byte SURB-ACK whose prefix re-encodes to exactly the bytes it was
//! read from (so the address decoding is canonical). What is delivered is then framed for the
//! client as a live and as a stored item, which must decode to the same frame.
#![no_main]

use gateway_protocol::final_hop::{split, surb_ack_prefix, SURB_ACK_LEN};
use gateway_protocol::{DeliveryKind, GatewayFrame};
use libfuzzer_sys::fuzz_target;
use router_core::wire::PacketSize;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, plaintext)) = data.split_first() else {
        return;
    };
    let size = PacketSize::ALL[usize::from(pick) % PacketSize::ALL.len()];
    let Ok(hop) = split(size, plaintext) else {
        assert!(
            size != PacketSize::Ack,
            "an ack plaintext is always delivered"
        );
        return;
    };
    match hop.ack {
        None => {
            assert_eq!(size, PacketSize::Ack);
            assert_eq!(hop.kind, DeliveryKind::Ack);
            assert_eq!(hop.bytes, plaintext);
        }
        Some((first_hop, packet)) => {
            assert_eq!(hop.kind, DeliveryKind::Message);
            assert_eq!(hop.bytes, &plaintext[SURB_ACK_LEN..]);
            let prefix = surb_ack_prefix(&first_hop, packet).expect("the ack packet's size");
            assert_eq!(
                prefix,
                &plaintext[..SURB_ACK_LEN],
                "non-canonical SURB-ACK prefix"
            );
        }
    }
    for stored_id in [None, Some(u64::from(pick) << 40 | 7)] {
        let frame = GatewayFrame {
            kind: hop.kind,
            stored_id,
            bytes: hop.bytes,
        };
        let encoded = frame.encode();
        assert_eq!(GatewayFrame::decode(&encoded), Ok(frame));
    }
});
