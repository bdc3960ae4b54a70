//! Oracle tests: in-place unwrapping gives exactly what `sphinx-packet` 0.8's `process()` gives,
//! hop by hop, for random routes of 1 to 5 hops, every version and every packet size.

mod common;

use common::strategies::{packet_spec, SIZES};
use common::{PacketSpec, HEADER_SIZE};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use router_core::sphinx::{unwrap_in_place, Hop, SphinxSecretKey, UnwrapError};
use sphinx_packet::crypto::PrivateKey;
use sphinx_packet::{ProcessedPacketData, SphinxPacket};

/// Walks a packet along its whole route with both implementations, asserting they agree at
/// every hop. Returns the number of hops walked.
fn walk_route_with_both(spec: &PacketSpec) -> Result<usize, TestCaseError> {
    let mut reference = spec.build();
    let mut ours = reference.to_bytes();
    prop_assert_eq!(ours.len(), spec.packet_size);

    for (hop, secret) in spec.node_secrets.iter().enumerate() {
        let reference_key = PrivateKey::from(*secret);
        let expected_tag = *reference
            .header
            .compute_expanded_shared_secret(&reference_key)
            .replay_tag();
        let expected = reference
            .process(&reference_key)
            .expect("reference processes");
        let got = unwrap_in_place(&mut ours, &SphinxSecretKey::from_bytes(*secret))
            .map_err(|e| TestCaseError::fail(format!("hop {hop}: {e}")))?;

        prop_assert_eq!(got.version.number(), expected.version.value());
        prop_assert_eq!(got.replay_tag, expected_tag);
        match (expected.data, got.hop) {
            (
                ProcessedPacketData::ForwardHop {
                    next_hop_packet,
                    next_hop_address,
                    delay,
                },
                Hop::Forward {
                    next_hop,
                    delay: our_delay,
                },
            ) => {
                prop_assert!(hop + 1 < spec.node_secrets.len(), "forward at the last hop");
                prop_assert_eq!(next_hop, next_hop_address.to_bytes());
                prop_assert_eq!(next_hop, spec.node_addresses[hop + 1]);
                prop_assert_eq!(our_delay.as_nanos(), delay.to_nanos());
                prop_assert_eq!(our_delay.as_nanos(), spec.delays[hop]);
                let next_bytes = next_hop_packet.to_bytes();
                prop_assert!(next_bytes == ours, "next packet differs at hop {}", hop);
                reference = next_hop_packet;
            }
            (
                ProcessedPacketData::FinalHop {
                    destination,
                    identifier,
                    payload,
                },
                Hop::Final {
                    destination: our_destination,
                    identifier: our_identifier,
                },
            ) => {
                prop_assert_eq!(
                    hop + 1,
                    spec.node_secrets.len(),
                    "final before the last hop"
                );
                prop_assert_eq!(our_destination, destination.as_bytes());
                prop_assert_eq!(our_destination, spec.destination);
                prop_assert_eq!(our_identifier, identifier);
                prop_assert!(
                    payload.as_bytes() == &ours[HEADER_SIZE..],
                    "payload differs"
                );
                // and the plaintext is really in there
                let plaintext = payload.recover_plaintext().expect("well-formed payload");
                prop_assert_eq!(&plaintext, &spec.message);
                let ours_plain = router_core::sphinx::recover_plaintext(&ours[HEADER_SIZE..])
                    .map_err(|e| TestCaseError::fail(format!("our plaintext recovery: {e}")))?;
                prop_assert_eq!(ours_plain, &spec.message[..]);
                return Ok(hop + 1);
            }
            (_, got) => {
                return Err(TestCaseError::fail(format!(
                    "hop kinds differ at hop {hop}: ours {got:?}"
                )))
            }
        }
    }
    Err(TestCaseError::fail("route ended without a final hop"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn unwrap_matches_sphinx_packet_on_every_hop(spec in packet_spec()) {
        let hops = walk_route_with_both(&spec)?;
        prop_assert_eq!(hops, spec.node_secrets.len());
    }

    /// The MAC covers only the header: a flipped payload bit still unwraps, and both
    /// implementations garble the payload identically (Lioness is a wide-block cipher).
    #[test]
    fn tampered_payload_unwraps_identically(spec in packet_spec(), bit in any::<prop::sample::Index>()) {
        let packet = spec.build();
        let mut bytes = packet.to_bytes();
        let bit = HEADER_SIZE * 8 + bit.index((bytes.len() - HEADER_SIZE) * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let reference = SphinxPacket::from_bytes(&bytes).unwrap();
        let expected = reference.process(&PrivateKey::from(spec.node_secrets[0])).unwrap();
        unwrap_in_place(&mut bytes, &SphinxSecretKey::from_bytes(spec.node_secrets[0])).unwrap();
        let expected_bytes = match expected.data {
            ProcessedPacketData::ForwardHop { next_hop_packet, .. } => next_hop_packet.to_bytes(),
            ProcessedPacketData::FinalHop { payload, .. } => {
                let mut b = bytes[..HEADER_SIZE].to_vec();
                b.extend_from_slice(payload.as_bytes());
                b
            }
        };
        prop_assert!(expected_bytes[HEADER_SIZE..] == bytes[HEADER_SIZE..]);
    }

    /// Random bytes of a valid size are refused (the MAC cannot verify) and never panic.
    #[test]
    fn random_packets_are_refused(size in prop::sample::select(&SIZES[..]), seed in any::<u64>(), key in any::<[u8; 32]>()) {
        let mut state = seed;
        let mut bytes: Vec<u8> = (0..size).map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        }).collect();
        let result = unwrap_in_place(&mut bytes, &SphinxSecretKey::from_bytes(key));
        let alpha_is_canonical = bytes[31] < 0x7f;
        if alpha_is_canonical {
            prop_assert_eq!(result, Err(UnwrapError::HeaderMac));
        } else {
            prop_assert!(result.is_err());
        }
    }

    /// Any length that is not a packet size is refused without touching the buffer.
    #[test]
    fn wrong_lengths_are_refused(len in 0usize..40_000, key in any::<[u8; 32]>()) {
        prop_assume!(!SIZES.contains(&len));
        let mut bytes = vec![0x5a; len];
        let result = unwrap_in_place(&mut bytes, &SphinxSecretKey::from_bytes(key));
        prop_assert_eq!(result, Err(UnwrapError::InvalidLength(len)));
        prop_assert!(bytes.iter().all(|b| *b == 0x5a));
    }
}

/// Every single flipped bit of the header, in alpha, gamma or beta, is rejected, and the
/// rejection leaves the buffer as it was.
#[test]
fn every_flipped_header_bit_is_rejected() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let spec = packet_spec().new_tree(&mut runner).unwrap().current();
    let key = SphinxSecretKey::from_bytes(spec.node_secrets[0]);
    let packet = spec.build().to_bytes();
    // the untouched packet is fine
    unwrap_in_place(&mut packet.clone(), &key).unwrap();

    for bit in 0..HEADER_SIZE * 8 {
        let mut tampered = packet.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        let before = tampered.clone();
        let result = unwrap_in_place(&mut tampered, &key);
        // bit 255 is alpha's top bit, which X25519 ignores: it is refused as non-canonical
        let expected = if bit == 255 {
            UnwrapError::NonCanonicalAlpha
        } else {
            UnwrapError::HeaderMac
        };
        assert_eq!(result, Err(expected), "bit {bit} was accepted");
        assert!(
            tampered == before,
            "a rejected packet was modified (bit {bit})"
        );
    }
}

/// A packet for another node's key is refused.
#[test]
fn packet_for_another_key_is_refused() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let spec = packet_spec().new_tree(&mut runner).unwrap().current();
    let mut packet = spec.build().to_bytes();
    let mut wrong = spec.node_secrets[0];
    wrong[0] ^= 0x80; // bit 7 of byte 0 survives clamping
    let result = unwrap_in_place(&mut packet, &SphinxSecretKey::from_bytes(wrong));
    assert_eq!(result, Err(UnwrapError::HeaderMac));
}
