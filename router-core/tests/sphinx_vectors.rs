//! Checked-in test vectors (`tests/vectors/sphinx_unwrap.json`, written by
//! `examples/gen_sphinx_vectors.rs` from `sphinx-packet` 0.8): every hop of every case must
//! unwrap to exactly the recorded result, without consulting the reference crate.

use router_core::sphinx::{unwrap_in_place, Hop, SphinxSecretKey};
use router_core::wire::decode_node_address;

#[path = "vectors/schema.rs"]
mod schema;
use schema::Vectors;

fn array<const N: usize>(hex_text: &str) -> [u8; N] {
    let bytes = hex::decode(hex_text).expect("vector fields are hex");
    bytes
        .try_into()
        .expect("vector field has the recorded length")
}

#[test]
fn every_recorded_hop_unwraps_to_the_recorded_result() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("vectors/sphinx_unwrap.json")).unwrap();
    assert!(vectors.cases.len() >= 7);
    let mut hops_checked = 0;

    for case in &vectors.cases {
        let mut packet = hex::decode(&case.packet).unwrap();
        assert_eq!(packet.len(), case.packet_size, "{}", case.name);
        for (i, record) in case.hops.iter().enumerate() {
            let key = SphinxSecretKey::from_bytes(array(&record.secret_key));
            let got = unwrap_in_place(&mut packet, &key)
                .unwrap_or_else(|e| panic!("{} hop {i}: {e}", case.name));
            assert_eq!(got.version.number(), case.version, "{} hop {i}", case.name);
            assert_eq!(
                got.replay_tag,
                array::<32>(&record.replay_tag),
                "{} hop {i}",
                case.name
            );
            let output = hex::decode(&record.output).unwrap();
            match (record.kind.as_str(), got.hop) {
                ("forward", Hop::Forward { next_hop, delay }) => {
                    assert_eq!(
                        next_hop,
                        array::<32>(&record.address),
                        "{} hop {i}",
                        case.name
                    );
                    assert_eq!(Some(delay.as_nanos()), record.delay_nanos);
                    // the generator routes through 127.0.0.x:1789
                    let address = decode_node_address(&next_hop).unwrap();
                    assert_eq!(address.port(), 1789);
                    assert!(address.ip().is_loopback());
                    assert!(
                        packet == output,
                        "{} hop {i}: next packet differs",
                        case.name
                    );
                }
                (
                    "final",
                    Hop::Final {
                        destination,
                        identifier,
                    },
                ) => {
                    assert_eq!(destination, array::<32>(&record.address));
                    assert_eq!(
                        Some(identifier),
                        record.identifier.as_deref().map(array::<16>)
                    );
                    assert!(
                        packet[348..] == output[..],
                        "{} hop {i}: payload differs",
                        case.name
                    );
                    assert_eq!(i + 1, case.hops.len());
                }
                (kind, hop) => panic!("{} hop {i}: recorded {kind}, got {hop:?}", case.name),
            }
            hops_checked += 1;
        }
    }
    assert!(hops_checked >= 20);
}
