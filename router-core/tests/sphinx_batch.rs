//! Batch unwrapping gives, packet by packet, exactly what one-at-a-time `sphinx-packet`
//! processing gives, over batches that mix versions, sizes, forward and final hops, and invalid
//! packets; and an invalid packet never changes its neighbours' results.

#![allow(clippy::unwrap_used)]

mod common;

use common::strategies::{packet_spec, SIZES};
use common::HEADER_SIZE;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use router_core::crypto::x25519::Backend;
use router_core::sphinx::{unwrap_in_place, BatchUnwrapper, Hop, SphinxSecretKey};
use sphinx_packet::crypto::PrivateKey;
use sphinx_packet::{ProcessedPacketData, SphinxPacket};

/// One batch entry: a real packet walked `hops_done` hops already, or garbage.
#[derive(Debug, Clone)]
enum Entry {
    Real {
        spec: common::PacketSpec,
        hops_done: usize,
    },
    Garbage {
        len_index: usize,
        fill: u8,
        wrong_size: bool,
    },
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        3 => (packet_spec(), any::<prop::sample::Index>()).prop_map(|(spec, at)| {
            let hops_done = at.index(spec.node_secrets.len());
            Entry::Real { spec, hops_done }
        }),
        1 => (0..SIZES.len(), any::<u8>(), any::<bool>())
            .prop_map(|(len_index, fill, wrong_size)| Entry::Garbage { len_index, fill, wrong_size }),
    ]
}

/// All packets of a batch are for the same node, so each real packet is rebuilt so that the
/// batch's node sits at its `hops_done`-th hop.
fn node_secret() -> [u8; 32] {
    [0x11; 32]
}

fn materialise(entry: &Entry) -> (Vec<u8>, Option<SphinxPacket>) {
    match entry {
        Entry::Real { spec, hops_done } => {
            let mut spec = spec.clone();
            spec.node_secrets[*hops_done] = node_secret();
            let mut packet = spec.build();
            for secret in &spec.node_secrets[..*hops_done] {
                match packet.process(&PrivateKey::from(*secret)).unwrap().data {
                    ProcessedPacketData::ForwardHop {
                        next_hop_packet, ..
                    } => packet = next_hop_packet,
                    ProcessedPacketData::FinalHop { .. } => unreachable!("hops_done < hops"),
                }
            }
            let bytes = packet.to_bytes();
            (
                bytes.clone(),
                Some(SphinxPacket::from_bytes(&bytes).unwrap()),
            )
        }
        Entry::Garbage {
            len_index,
            fill,
            wrong_size,
        } => {
            let len = SIZES[*len_index] + usize::from(*wrong_size);
            (vec![*fill; len], None)
        }
    }
}

fn check_batch(entries: &[Entry], unwrapper: &mut BatchUnwrapper) -> Result<(), TestCaseError> {
    let key = SphinxSecretKey::from_bytes(node_secret());
    let reference_key = PrivateKey::from(node_secret());
    let mut packets = Vec::new();
    let mut references = Vec::new();
    for entry in entries {
        let (bytes, reference) = materialise(entry);
        packets.push(bytes);
        references.push(reference);
    }
    let singles: Vec<(Vec<u8>, _)> = packets
        .iter()
        .map(|p| {
            let mut copy = p.clone();
            let result = unwrap_in_place(&mut copy, &key);
            (copy, result)
        })
        .collect();

    let mut results = Vec::new();
    unwrapper.unwrap_batch(&mut packets, &mut results);
    prop_assert_eq!(results.len(), entries.len());

    for (i, ((result, packet), reference)) in
        results.iter().zip(&packets).zip(references).enumerate()
    {
        // identical to one at a time, buffer and result
        prop_assert_eq!(result, &singles[i].1, "entry {}", i);
        prop_assert!(
            packet == &singles[i].0,
            "entry {} buffer differs from single unwrap",
            i
        );
        let Some(reference) = reference else {
            prop_assert!(result.is_err(), "garbage entry {} accepted", i);
            continue;
        };
        let got = result
            .as_ref()
            .map_err(|e| TestCaseError::fail(format!("entry {i}: {e}")))?;
        match (reference.process(&reference_key).unwrap().data, got.hop) {
            (
                ProcessedPacketData::ForwardHop {
                    next_hop_packet,
                    next_hop_address,
                    delay,
                },
                Hop::Forward { next_hop, delay: d },
            ) => {
                prop_assert_eq!(next_hop, next_hop_address.to_bytes());
                prop_assert_eq!(d.as_nanos(), delay.to_nanos());
                prop_assert!(
                    next_hop_packet.to_bytes() == *packet,
                    "entry {} next packet",
                    i
                );
            }
            (
                ProcessedPacketData::FinalHop {
                    destination,
                    identifier,
                    payload,
                },
                Hop::Final {
                    destination: d,
                    identifier: id,
                },
            ) => {
                prop_assert_eq!(d, destination.as_bytes());
                prop_assert_eq!(id, identifier);
                prop_assert!(
                    payload.as_bytes() == &packet[HEADER_SIZE..],
                    "entry {} payload",
                    i
                );
            }
            (_, hop) => prop_assert!(false, "entry {}: hop kind differs ({:?})", i, hop),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batches_match_sphinx_packet_on_the_detected_backend(entries in vec(entry(), 0..40)) {
        check_batch(&entries, &mut BatchUnwrapper::new(SphinxSecretKey::from_bytes(node_secret())))?;
    }

    #[test]
    fn batches_match_sphinx_packet_on_the_portable_backend(entries in vec(entry(), 0..20)) {
        let key = SphinxSecretKey::from_bytes(node_secret());
        check_batch(&entries, &mut BatchUnwrapper::with_backend(key, Backend::Portable).unwrap())?;
    }
}

/// The unwrapper reuses its scratch: later batches, larger and smaller, are right too.
#[test]
fn an_unwrapper_can_be_reused() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut unwrapper = BatchUnwrapper::new(SphinxSecretKey::from_bytes(node_secret()));
    for size in [17, 33, 5, 0, 9] {
        let entries = vec(entry(), size..=size)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        check_batch(&entries, &mut unwrapper).unwrap();
    }
}
