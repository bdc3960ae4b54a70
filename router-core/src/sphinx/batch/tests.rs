//! The multi-key batch against the `sphinx-packet` oracle and against one-at-a-time unwrapping.

use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::{ProcessedPacketData, SphinxPacket, SphinxPacketBuilder};

use super::*;
use crate::sphinx::{unwrap_in_place, Hop};
use crate::wire::PacketSize;

const KEY_A: [u8; 32] = [0xa1; 32];
const KEY_B: [u8; 32] = [0xb2; 32];
const A: usize = 0;
const B: usize = 1;

fn keys() -> [SphinxSecretKey; 2] {
    [
        SphinxSecretKey::from_bytes(KEY_A),
        SphinxSecretKey::from_bytes(KEY_B),
    ]
}

/// A regular packet whose first hop holds `node`; a forward hop unless `last`.
fn packet(node: [u8; 32], seed: u8, last: bool) -> Vec<u8> {
    let first = Node::new(
        NodeAddressBytes::from_bytes([seed; 32]),
        PublicKey::from(&PrivateKey::from(node)),
    );
    let second = Node::new(
        NodeAddressBytes::from_bytes([0; 32]),
        PublicKey::from(&PrivateKey::from([9; 32])),
    );
    let route = if last {
        vec![first]
    } else {
        vec![first, second]
    };
    let delays: Vec<Delay> = route
        .iter()
        .map(|_| Delay::new_from_nanos(u64::from(seed)))
        .collect();
    SphinxPacketBuilder::new()
        .with_payload_size(PacketSize::Regular.size() - 348)
        .with_initial_secret(&PrivateKey::from([seed; 32]))
        .build_packet(
            b"rotation",
            &route,
            &Destination::new(DestinationAddressBytes::from_bytes([3; 32]), [4; 16]),
            &delays,
        )
        .unwrap()
        .to_bytes()
}

/// What `sphinx-packet` makes of `bytes` at the node holding `node`: the next hop's packet,
/// or the payload.
fn oracle(bytes: &[u8], node: [u8; 32]) -> Vec<u8> {
    let processed = SphinxPacket::from_bytes(bytes)
        .unwrap()
        .process(&PrivateKey::from(node))
        .unwrap();
    match processed.data {
        ProcessedPacketData::ForwardHop {
            next_hop_packet, ..
        } => next_hop_packet.to_bytes(),
        ProcessedPacketData::FinalHop { payload, .. } => payload.into_bytes(),
    }
}

fn portable() -> MultiKeyUnwrapper {
    MultiKeyUnwrapper::with_backend(Backend::Portable).unwrap()
}

/// Key A's and key B's packets mixed, forward and final hops, more than one SIMD ladder wide.
fn mixed_batch() -> Vec<(Vec<u8>, usize)> {
    (1..=20u8)
        .map(|seed| {
            let (node, key) = if seed % 3 == 0 {
                (KEY_B, B)
            } else {
                (KEY_A, A)
            };
            (packet(node, seed, seed % 4 == 0), key)
        })
        .collect()
}

#[test]
fn with_an_unknown_byte_each_packet_is_opened_by_its_own_key_as_the_oracle_opens_it() {
    for mut unwrapper in [MultiKeyUnwrapper::new(), portable()] {
        let batch = mixed_batch();
        let mut packets: Vec<Vec<u8>> = batch.iter().map(|(p, _)| p.clone()).collect();
        let mut results = Vec::new();
        let choice = KeyChoice::Either { first: A, then: B };
        unwrapper.unwrap_batch_keyed(&mut packets, &keys(), |_| choice, &mut results);
        assert_eq!(results.len(), batch.len());
        for (i, ((original, key), (packet, result))) in
            batch.iter().zip(packets.iter().zip(&results)).enumerate()
        {
            let node = [KEY_A, KEY_B][*key];
            let (unwrapped, opened_by) = result.as_ref().unwrap();
            assert_eq!(opened_by, key, "packet {i}");
            let expected = oracle(original, node);
            match unwrapped.hop {
                Hop::Forward { .. } => assert_eq!(packet, &expected, "packet {i}"),
                Hop::Final { .. } => assert_eq!(&packet[348..], &expected[..], "packet {i}"),
            }
            let mut single = original.clone();
            let alone = unwrap_in_place(&mut single, &keys()[*key]).unwrap();
            assert_eq!(unwrapped, &alone, "packet {i}");
        }
    }
}

#[test]
fn a_byte_naming_the_wrong_key_fails_the_mac_and_the_other_key_is_not_tried() {
    let mut unwrapper = portable();
    let batch = mixed_batch();
    let mut packets: Vec<Vec<u8>> = batch.iter().map(|(p, _)| p.clone()).collect();
    let mut results = Vec::new();
    // every packet named by the other key's parity
    let mut wrong = batch.iter().map(|(_, key)| KeyChoice::Only(1 - key));
    unwrapper.unwrap_batch_keyed(
        &mut packets,
        &keys(),
        |_| wrong.next().unwrap(),
        &mut results,
    );
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result, &Err(UnwrapError::HeaderMac), "packet {i}");
        assert_eq!(packets[i], batch[i].0, "packet {i} was modified");
    }
    // and with the right one named, each opens with just that key
    let mut right = batch.iter().map(|(_, key)| KeyChoice::Only(*key));
    unwrapper.unwrap_batch_keyed(
        &mut packets,
        &keys(),
        |_| right.next().unwrap(),
        &mut results,
    );
    for (result, (_, key)) in results.iter().zip(&batch) {
        assert_eq!(result.as_ref().unwrap().1, *key);
    }
}

#[test]
fn the_newer_key_first_then_the_older_one_either_order_opens_both() {
    let mut unwrapper = portable();
    let batch = mixed_batch();
    let mut packets: Vec<Vec<u8>> = batch.iter().map(|(p, _)| p.clone()).collect();
    let mut results = Vec::new();
    let choice = KeyChoice::Either { first: B, then: A };
    unwrapper.unwrap_batch_keyed(&mut packets, &keys(), |_| choice, &mut results);
    for (result, (_, key)) in results.iter().zip(&batch) {
        assert_eq!(result.as_ref().unwrap().1, *key);
    }
}

#[test]
fn a_batch_equals_one_packet_at_a_time_with_the_chosen_keys() {
    let mut entries: Vec<(Vec<u8>, KeyChoice)> = Vec::new();
    let either = KeyChoice::Either { first: A, then: B };
    for (seed, (bytes, key)) in (1u8..).zip(mixed_batch()) {
        let choice = match seed % 5 {
            0 => KeyChoice::Only(key),
            1 => KeyChoice::Only(1 - key),
            2 => KeyChoice::None,
            _ => either,
        };
        entries.push((bytes, choice));
    }
    // a packet for neither key, a tampered one, garbage, a wrong length, an index out of range
    entries.push((packet([5; 32], 77, false), either));
    let mut tampered = packet(KEY_B, 78, false);
    tampered[40] ^= 1;
    entries.push((tampered, either));
    entries.push((vec![0; PacketSize::Regular.size()], either));
    entries.push((vec![0; PacketSize::Regular.size() + 1], either));
    entries.push((packet(KEY_A, 79, false), KeyChoice::Only(2)));
    entries.push((
        packet(KEY_A, 80, false),
        KeyChoice::Either { first: 7, then: A },
    ));
    entries.push((
        packet(KEY_B, 81, false),
        KeyChoice::Either { first: A, then: 7 },
    ));

    let expected: Vec<(Vec<u8>, KeyedResult)> = entries
        .iter()
        .map(|(bytes, choice)| {
            let mut copy = bytes.clone();
            let tries: Vec<usize> = match *choice {
                KeyChoice::Only(k) => vec![k],
                KeyChoice::Either { first, then } => vec![first, then],
                KeyChoice::None => vec![],
            };
            let mut result = Err(UnwrapError::NoKey);
            for (n, k) in tries.into_iter().enumerate() {
                let Some(key) = keys().get(k).cloned() else {
                    if n == 0 {
                        break;
                    }
                    continue;
                };
                result = unwrap_in_place(&mut copy, &key).map(|u| (u, k));
                if result != Err(UnwrapError::HeaderMac) {
                    break;
                }
            }
            (copy, result)
        })
        .collect();

    for mut unwrapper in [MultiKeyUnwrapper::new(), portable()] {
        let mut packets: Vec<Vec<u8>> = entries.iter().map(|(p, _)| p.clone()).collect();
        let mut choices = entries.iter().map(|(_, c)| *c);
        let mut results = Vec::new();
        unwrapper.unwrap_batch_keyed(
            &mut packets,
            &keys(),
            |_| choices.next().unwrap(),
            &mut results,
        );
        assert_eq!(results.len(), entries.len());
        for (i, ((packet, result), (want_packet, want))) in
            packets.iter().zip(&results).zip(&expected).enumerate()
        {
            assert_eq!(result, want, "entry {i}");
            assert!(packet == want_packet, "entry {i}: buffer differs");
        }
        // the cases the construction is about actually occur
        assert!(results.contains(&Err(UnwrapError::NoKey)));
        assert!(results.iter().any(|r| matches!(r, Ok((_, B)))));
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(UnwrapError::InvalidLength(_)))));
    }
}

#[test]
fn the_single_key_batch_is_the_multi_key_batch_with_one_key() {
    let batch = mixed_batch();
    let mut packets: Vec<Vec<u8>> = batch.iter().map(|(p, _)| p.clone()).collect();
    let mut results = Vec::new();
    BatchUnwrapper::with_backend(SphinxSecretKey::from_bytes(KEY_B), Backend::Portable)
        .unwrap()
        .unwrap_batch(&mut packets, &mut results);
    for (i, ((original, key), result)) in batch.iter().zip(&results).enumerate() {
        if *key == B {
            assert!(result.is_ok(), "packet {i}");
            assert_eq!(packets[i], {
                let mut copy = original.clone();
                unwrap_in_place(&mut copy, &keys()[B]).unwrap();
                copy
            });
        } else {
            assert_eq!(result, &Err(UnwrapError::HeaderMac), "packet {i}");
            assert_eq!(&packets[i], original);
        }
    }
}
