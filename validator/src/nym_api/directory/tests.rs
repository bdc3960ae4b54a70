use std::net::SocketAddr;

use serde_json::{json, Value};

use super::*;
use validator_core::genesis::Genesis;
use validator_core::rotation::{KeyRotationParams, RotationId};
use validator_core::test_util::{identity, node_key, sphinx_key};
use validator_core::topology::{EpochId, Layer, TopologyGateway, TopologyMixnode};

const NOW_MS: u64 = 1_780_000_000_123;

fn mixnode(seed: u32, layer: u8) -> TopologyMixnode {
    TopologyMixnode {
        identity_key: identity(&node_key(seed)),
        sphinx_key: sphinx_key(seed),
        next_sphinx_key: None,
        noise_key: None,
        address: SocketAddr::from(([127, 0, 0, 1], 10_000 + seed as u16)),
        layer: Layer::new(layer).unwrap(),
    }
}

fn gateway(seed: u32, clients: Option<&str>) -> TopologyGateway {
    TopologyGateway {
        identity_key: identity(&node_key(seed)),
        sphinx_key: sphinx_key(seed),
        next_sphinx_key: None,
        noise_key: None,
        address: SocketAddr::from(([127, 0, 0, 1], 10_000 + seed as u16)),
        clients_address: clients.map(str::to_string),
    }
}

fn topology(rotation: Option<u64>) -> Topology {
    Topology {
        epoch_id: EpochId(41),
        height: 7,
        valid_from_ms: 0,
        valid_until_ms: u64::MAX,
        rotation: rotation.map(RotationId),
        mixnodes: vec![mixnode(1, 1), mixnode(2, 2), mixnode(3, 3), mixnode(4, 3)],
        gateways: vec![
            gateway(5, Some("ws://127.0.0.1:9005")),
            gateway(6, Some("wss://gw.example:9443")),
            gateway(7, None),
        ],
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn nodes_are_written_as_nym_clients_parse_them() {
    let topology = topology(Some(3));
    let dir = Directory::new(&topology, NOW_MS).unwrap();
    let page = to_json(&dir.nodes(NodeSet::All, 0));
    assert_eq!(
        page["metadata"],
        json!({
            "status": null,
            "absolute_epoch_id": 41,
            "rotation_id": 3,
            "refreshed_at": "2026-05-28T20:26:40.123Z",
        })
    );
    assert_eq!(
        page["nodes"]["pagination"],
        json!({"total": 7, "page": 0, "size": 7})
    );
    let data = page["nodes"]["data"].as_array().unwrap();
    let m = &topology.mixnodes[1];
    assert_eq!(
        data[1],
        json!({
            "node_id": u32::from_be_bytes(m.identity_key.as_bytes()[..4].try_into().unwrap())
                & 0x7fff_ffff,
            "ed25519_identity_pubkey": m.identity_key.to_bs58(),
            "ip_addresses": ["127.0.0.1"],
            "mix_port": 10_002,
            "x25519_sphinx_pubkey": m.sphinx_key.to_bs58(),
            "role": {"Mixnode": {"layer": 2}},
            "supported_roles": {"mixnode": true, "entry": false, "exit_nr": false, "exit_ipr": false},
            "entry": null,
            "performance": "1",
        })
    );
    assert_eq!(data[4]["role"], json!("EntryGateway"));
    assert_eq!(
        data[4]["entry"],
        json!({"hostname": null, "ws_port": 9005, "wss_port": null})
    );
    assert_eq!(
        data[5]["entry"],
        json!({"hostname": "gw.example", "ws_port": 9443, "wss_port": 9443})
    );
    assert_eq!(data[6]["entry"], Value::Null, "no client URL announced");
}

#[test]
fn the_lists_and_the_rewarded_set_agree_on_ids_and_epoch() {
    let topology = topology(None);
    let dir = Directory::new(&topology, NOW_MS).unwrap();
    let ids = |set| -> Vec<u32> {
        dir.nodes(set, 0)
            .nodes
            .data
            .iter()
            .map(|n| n.node_id)
            .collect()
    };
    let (mixnodes, gateways, all) = (
        ids(NodeSet::Mixnodes),
        ids(NodeSet::Gateways),
        ids(NodeSet::All),
    );
    assert_eq!(mixnodes.len(), 4);
    assert_eq!(gateways.len(), 3);
    assert_eq!([mixnodes.clone(), gateways.clone()].concat(), all);
    let set = dir.rewarded_set();
    assert_eq!(set.epoch_id, 41);
    assert_eq!(set.layer1, vec![mixnodes[0]]);
    assert_eq!(set.layer2, vec![mixnodes[1]]);
    assert_eq!(set.layer3, vec![mixnodes[2], mixnodes[3]]);
    assert_eq!(set.entry_gateways, gateways);
    for set in [NodeSet::Mixnodes, NodeSet::Gateways, NodeSet::All] {
        let metadata = dir.nodes(set, 0).metadata;
        assert_eq!((metadata.absolute_epoch_id, metadata.rotation_id), (41, 0));
    }
}

#[test]
fn later_pages_are_empty_with_the_same_total() {
    let topology = topology(None);
    let dir = Directory::new(&topology, NOW_MS).unwrap();
    let page = dir.nodes(NodeSet::Mixnodes, 1);
    assert!(page.nodes.data.is_empty());
    assert_eq!(
        page.nodes.pagination,
        Pagination {
            total: 4,
            page: 1,
            size: 0
        }
    );
}

#[test]
fn node_ids_stay_distinct_when_keys_share_their_first_bytes() {
    let mut taken = BTreeSet::new();
    let key = identity(&node_key(9));
    let first = node_id(&key, &mut taken);
    assert_eq!(node_id(&key, &mut taken), first + 1);
    assert_eq!(node_id(&key, &mut taken), first + 2);
    assert!(first <= 0x7fff_ffff);
}

#[test]
fn ids_past_32_bits_are_refused() {
    let mut t = topology(None);
    t.epoch_id = EpochId(u64::from(u32::MAX) + 1);
    assert!(matches!(
        Directory::new(&t, NOW_MS),
        Err(DirectoryError::OutOfRange { what: "epoch", .. })
    ));
}

fn genesis_schedule(epoch_ms: u64) -> (Genesis, EpochSchedule) {
    let mut genesis = validator_core::test_util::genesis(1, 1, 1, 1);
    genesis.genesis_time_unix_ms = 1_700_000_000_000;
    genesis.epoch_length_ms = epoch_ms;
    let schedule = EpochSchedule::from_genesis(&genesis);
    (genesis, schedule)
}

#[test]
fn key_rotation_info_follows_the_chains_schedules() {
    let (genesis, epochs) = genesis_schedule(60_000);
    let rotation = RotationSchedule::new(
        genesis.genesis_time_unix_ms,
        60_000,
        KeyRotationParams {
            length_ms: 600_000,
            overlap_ms: 60_000,
        },
    );
    // 25.5 epochs after genesis: epoch 25, in rotation 2 (epochs 20..=29)
    let now = genesis.genesis_time_unix_ms + 25 * 60_000 + 30_000;
    let info = key_rotation_info(&epochs, Some(&rotation), now).unwrap();
    assert_eq!(
        to_json(&info),
        json!({
            "key_rotation_state": {"validity_epochs": 10, "initial_epoch_id": 0},
            "current_absolute_epoch_id": 25,
            "current_epoch_start": rfc3339(genesis.genesis_time_unix_ms + 25 * 60_000).unwrap(),
            "epoch_duration": {"secs": 60, "nanos": 0},
            "progress": {
                "current_key_rotation_id": 2,
                "current_rotation_starting_epoch": 20,
                "current_rotation_ending_epoch": 29,
            },
        })
    );
    // what a Nym client computes from it is the chain's own rotation
    assert_eq!(
        u64::from(info.progress.current_key_rotation_id),
        rotation.rotation_of_epoch(EpochId(25)).0
    );
    assert_eq!(
        u64::from(info.current_absolute_epoch_id / info.key_rotation_state.validity_epochs),
        rotation.rotation_at(now).0
    );
}

#[test]
fn static_keys_are_one_long_rotation() {
    let (genesis, epochs) = genesis_schedule(1_500);
    let now = genesis.genesis_time_unix_ms + 3 * 1_500 + 1;
    let info = key_rotation_info(&epochs, None, now).unwrap();
    assert_eq!(
        info.key_rotation_state.validity_epochs,
        STATIC_KEYS_VALIDITY_EPOCHS
    );
    assert_eq!(info.current_absolute_epoch_id, 3);
    assert_eq!(info.progress.current_key_rotation_id, 0);
    assert_eq!(
        to_json(&info.epoch_duration),
        json!({"secs": 1, "nanos": 500_000_000})
    );
}

#[test]
fn times_are_rfc3339_utc() {
    assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(1_000_000_000_001).unwrap(),
        "2001-09-09T01:46:40.001Z"
    );
}

#[test]
fn client_urls_become_entries() {
    assert_eq!(
        entry_details("ws://127.0.0.1:9000"),
        Some(EntryDetails {
            hostname: None,
            ws_port: 9000,
            wss_port: None
        })
    );
    assert_eq!(entry_details("ws://[::1]:9000/").unwrap().ws_port, 9000);
    for bad in [
        "http://127.0.0.1:9000",
        "ws://127.0.0.1",
        "ws://:9000",
        "ws://h:99999",
    ] {
        assert_eq!(entry_details(bad), None, "{bad}");
    }
}
