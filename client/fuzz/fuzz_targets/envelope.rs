//! The decoders a client runs on what any sender put in a message, one at a time and fast
//! (the `client_core` target reaches them too, at Sphinx speed): the envelope of a
//! reassembled message, the reply SURBs inside it as the client uses them, a fragment's
//! header, and an ack's plaintext. It checks that:
//!
//! * an envelope that decodes encodes to bytes that decode to the same envelope, and
//!   encoding is stable from there (decode → encode → decode → encode gives the same bytes);
//! * a SURB from an envelope, used to answer, yields a regular packet or an error, never a
//!   panic, whatever its bytes;
//! * a fragment header that decodes re-encodes to the bytes it came from;
//! * an ack plaintext opens to an id only when it is exactly 21 bytes, and one sealed for an
//!   id opens to that id's low 40 bits.
#![no_main]

use client::core::crypto::{open_ack, seal_ack};
use client::core::envelope::Envelope;
use client::core::fragment::FragmentHeader;
use client::core::packets::use_surb;
use libfuzzer_sys::fuzz_target;
use router_core::wire::{KeyRotation, PacketSize};

const ACK_KEY: [u8; 16] = [7; 16];

fn envelope(bytes: &[u8]) {
    let Ok(envelope) = Envelope::decode(bytes) else {
        return;
    };
    let encoded = envelope.encode();
    let again = Envelope::decode(&encoded).expect("an encoded envelope decodes");
    assert_eq!(again, envelope, "envelope round trip");
    assert_eq!(again.encode(), encoded, "envelope encoding is stable");
    if let Envelope::Anonymous { surbs, .. } | Envelope::SurbTopUp { surbs, .. } = &envelope {
        // Bounded work per input: a few SURBs are enough to reach the SURB parser.
        for surb in surbs.iter().take(4) {
            if let Ok(t) = use_surb(&surb.surb, b"an answer", KeyRotation::Unknown) {
                assert_eq!(
                    PacketSize::from_packet_len(t.packet.len()),
                    Some(PacketSize::Regular),
                    "a reply is a regular packet"
                );
            }
        }
    }
}

fn fragment(bytes: &[u8]) {
    let Ok((header, data)) = FragmentHeader::decode(bytes) else {
        return;
    };
    let mut encoded = Vec::with_capacity(bytes.len());
    header.encode_into(&mut encoded);
    encoded.extend_from_slice(data);
    assert_eq!(encoded, bytes, "a fragment re-encodes to its bytes");
}

fn ack(bytes: &[u8]) {
    let opened = open_ack(&ACK_KEY, bytes);
    assert_eq!(opened.is_some(), bytes.len() == 21, "{} bytes", bytes.len());
    if let (Some(iv), Some(id)) = (bytes.get(..16), bytes.get(16..24)) {
        let iv: [u8; 16] = iv.try_into().expect("16 bytes");
        let id = u64::from_be_bytes(id.try_into().expect("8 bytes"));
        assert_eq!(
            open_ack(&ACK_KEY, &seal_ack(&ACK_KEY, iv, id)),
            Some(id & ((1 << 40) - 1))
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => envelope(rest),
        1 => fragment(rest),
        _ => ack(rest),
    }
});
