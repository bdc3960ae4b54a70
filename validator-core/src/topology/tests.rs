use proptest::prelude::*;

use super::*;
use crate::ledger::BondRecord;
use crate::selection::{select_active_set, SelectionParams};
use crate::statement::NodeRole;
use crate::test_util::{account_key, genesis, identity, node, validator_key};

fn records() -> Vec<BondRecord> {
    (0..8)
        .map(|i| BondRecord {
            node: node(
                i,
                if i < 6 {
                    NodeRole::Mixnode
                } else {
                    NodeRole::Gateway
                },
            ),
            stake: 100 + u64::from(i) * 10,
            owner: identity(&account_key(0)),
        })
        .collect()
}

/// Genesis with 5 validators, threshold 3, K = 6, G = 2; and its epoch-4 topology.
fn setup() -> (Genesis, Topology) {
    let g = genesis(1, 1000, 5, 3);
    let recs = records();
    let p = SelectionParams::from_genesis(&g, EpochId(4), TopologyHash::NONE);
    let set = select_active_set(&p, &recs).unwrap();
    let t = Topology::from_selection(&g, &set, 7).unwrap();
    (g, t)
}

fn keys(g: &Genesis) -> Vec<VerifyingKey> {
    g.validator_keys()
}

fn signed_by(t: &Topology, g: &Genesis, validators: &[u32]) -> SignedTopology {
    let h = g.genesis_hash();
    SignedTopology {
        topology: t.clone(),
        signatures: validators
            .iter()
            .map(|&v| t.sign(&h, &validator_key(v)))
            .collect(),
    }
}

fn verify(s: &SignedTopology, g: &Genesis, threshold: usize) -> Result<(), TopologyError> {
    verify_signed_topology(s, &g.genesis_hash(), &keys(g), threshold).map(|_| ())
}

fn insufficient(valid: usize) -> Result<(), TopologyError> {
    Err(TopologyError::InsufficientSignatures {
        valid,
        threshold: 3,
    })
}

#[test]
fn epoch_timing() {
    let g = genesis(1, 1, 1, 1); // genesis 1_000_000 ms, epochs of 60_000 ms
    assert_eq!(epoch_at(&g, 1_000_000), Ok(EpochId(0)));
    assert_eq!(epoch_at(&g, 1_059_999), Ok(EpochId(0)));
    assert_eq!(epoch_at(&g, 1_060_000), Ok(EpochId(1)));
    assert_eq!(
        epoch_at(&g, 999_999),
        Err(TopologyError::BeforeGenesis {
            now_ms: 999_999,
            genesis_time_ms: 1_000_000
        })
    );
    assert_eq!(epoch_window(&g, EpochId(0)), Ok((1_000_000, 1_060_000)));
    assert_eq!(epoch_window(&g, EpochId(2)), Ok((1_120_000, 1_180_000)));
    assert_eq!(
        epoch_window(&g, EpochId(u64::MAX)),
        Err(TopologyError::EpochOverflow(EpochId(u64::MAX)))
    );
    let mut zero = g.clone();
    zero.epoch_length_ms = 0;
    assert_eq!(
        epoch_at(&zero, 2_000_000),
        Err(TopologyError::ZeroEpochLength)
    );
    assert_eq!(
        epoch_window(&zero, EpochId(1)),
        Err(TopologyError::ZeroEpochLength)
    );
}

#[test]
fn from_selection_builds_a_routable_sorted_topology() {
    let (g, t) = setup();
    assert_eq!(t.epoch_id, EpochId(4));
    assert_eq!(t.height, 7);
    assert_eq!(
        (t.valid_from_ms, t.valid_until_ms),
        epoch_window(&g, EpochId(4)).unwrap()
    );
    assert!(t.is_valid_at(t.valid_from_ms) && !t.is_valid_at(t.valid_until_ms));
    assert_eq!(t.mixnodes.len(), 6);
    assert_eq!(t.gateways.len(), 2);
    assert!(t.is_routable());
    for l in Layer::ALL {
        assert_eq!(t.layer(l).count(), 2);
    }
    assert!(t
        .mixnodes
        .windows(2)
        .all(|w| (w[0].layer, w[0].identity_key) < (w[1].layer, w[1].identity_key)));
    assert!(t.gateways.iter().all(|g| g.clients_address.is_some()));
}

#[test]
fn canonical_bytes_ignore_vector_order_but_not_content() {
    let (_, t) = setup();
    let mut shuffled = t.clone();
    shuffled.mixnodes.reverse();
    shuffled.gateways.reverse();
    assert_eq!(shuffled.canonical_bytes(), t.canonical_bytes());
    assert_eq!(shuffled.topology_hash(), t.topology_hash());

    let changes: [fn(&mut Topology); 7] = [
        |t| t.epoch_id = EpochId(5),
        |t| t.height += 1,
        |t| t.valid_until_ms += 1,
        |t| t.mixnodes[0].layer = Layer::new(3).unwrap(),
        |t| t.mixnodes[1].address = "10.9.9.9:1".parse().unwrap(),
        |t| t.gateways[0].clients_address = None,
        |t| {
            t.gateways.pop();
        },
    ];
    for change in changes {
        let mut c = t.clone();
        change(&mut c);
        assert_ne!(c.canonical_bytes(), t.canonical_bytes());
        assert_ne!(c.topology_hash(), t.topology_hash());
    }
}

#[test]
fn json_roundtrip_and_layer_range() {
    let (g, t) = setup();
    let s = signed_by(&t, &g, &[0, 1, 2]);
    let json = serde_json::to_string(&s).unwrap();
    let back: SignedTopology = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    verify(&back, &g, 3).unwrap();

    let mut v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["topology"]["mixnodes"][0]["layer"], 1);
    v["topology"]["mixnodes"][0]["layer"] = 4.into();
    assert!(serde_json::from_value::<SignedTopology>(v).is_err());
    assert_eq!(Layer::try_from(0), Err(TopologyError::InvalidLayer(0)));
}

#[test]
fn threshold_signatures_accepted() {
    let (g, t) = setup();
    assert_eq!(verify(&signed_by(&t, &g, &[0, 1, 2]), &g, 3), Ok(()));
    assert_eq!(verify(&signed_by(&t, &g, &[4, 2, 0, 3, 1]), &g, 3), Ok(()));
    let s = signed_by(&t, &g, &[1, 3, 4]);
    assert_eq!(verify_signed_topology_for(&s, &g).unwrap(), &t);
    // Shuffling the node lists in transit does not break the signatures.
    let mut reordered = s.clone();
    reordered.topology.mixnodes.reverse();
    assert_eq!(verify(&reordered, &g, 3), Ok(()));
}

#[test]
fn threshold_minus_one_is_refused() {
    let (g, t) = setup();
    let err = verify(&signed_by(&t, &g, &[0, 1]), &g, 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "2 valid signatures from known validators, threshold 3"
    );
    assert_eq!(verify(&signed_by(&t, &g, &[]), &g, 3), insufficient(0));
}

#[test]
fn duplicates_count_once() {
    let (g, t) = setup();
    let mut s = signed_by(&t, &g, &[0, 1, 0, 1, 1]);
    assert_eq!(verify(&s, &g, 3), insufficient(2));
    s.signatures.push(s.signatures[0].clone());
    assert_eq!(verify(&s, &g, 3), insufficient(2));
    // A validator key listed twice in the set is still one validator.
    let mut set = keys(&g);
    set.push(set[0]);
    assert_eq!(
        verify_signed_topology(&s, &g.genesis_hash(), &set, 3).map(|_| ()),
        insufficient(2)
    );
}

#[test]
fn unknown_signers_do_not_count() {
    let (g, t) = setup();
    // validator_key(7) and (8) are not in the genesis validator set.
    let s = signed_by(&t, &g, &[0, 1, 7, 8]);
    assert_eq!(verify(&s, &g, 3), insufficient(2));
    // Nor does an unknown key's signature relabelled as a known validator's.
    let mut s = signed_by(&t, &g, &[0, 1]);
    let mut forged = t.sign(&g.genesis_hash(), &validator_key(7));
    forged.validator = identity(&validator_key(2));
    s.signatures.push(forged);
    assert_eq!(verify(&s, &g, 3), insufficient(2));
}

#[test]
fn signatures_over_other_bytes_do_not_count() {
    let (g, t) = setup();
    let h = g.genesis_hash();
    let mut s = signed_by(&t, &g, &[0, 1]);
    // Validator 2 signed a different topology.
    let mut other = t.clone();
    other.gateways.pop();
    s.signatures.push(other.sign(&h, &validator_key(2)));
    // Validator 3 signed this topology for another chain.
    s.signatures
        .push(t.sign(&GenesisHash([0xaa; 32]), &validator_key(3)));
    // Validator 4's signature is corrupted.
    let mut bad = t.sign(&h, &validator_key(4));
    let mut b = bad.signature.to_bytes();
    b[1] ^= 1;
    bad.signature = Signature::from_bytes(&b);
    s.signatures.push(bad);
    assert_eq!(verify(&s, &g, 3), insufficient(2));
    // A bad signature from a validator does not stop a later good one from counting.
    s.signatures.push(t.sign(&h, &validator_key(4)));
    assert_eq!(verify(&s, &g, 3), Ok(()));
    // Changing the topology after signing invalidates every signature.
    let mut tampered = signed_by(&t, &g, &[0, 1, 2, 3, 4]);
    tampered.topology.mixnodes[0].address = "10.1.1.1:1".parse().unwrap();
    assert_eq!(verify(&tampered, &g, 3), insufficient(0));
}

#[test]
fn invalid_threshold_and_structure() {
    let (g, t) = setup();
    let s = signed_by(&t, &g, &[0, 1, 2, 3, 4]);
    assert_eq!(
        verify(&s, &g, 0),
        Err(TopologyError::InvalidThreshold {
            threshold: 0,
            validators: 5
        })
    );
    assert!(matches!(
        verify(&s, &g, 6),
        Err(TopologyError::InvalidThreshold { .. })
    ));
    let mut dup = t.clone();
    dup.mixnodes.push(dup.mixnodes[0].clone());
    let s = signed_by(&dup, &g, &[0, 1, 2, 3, 4]);
    assert!(matches!(
        verify(&s, &g, 3),
        Err(TopologyError::DuplicateNode(_))
    ));
    let mut empty = t;
    empty.valid_until_ms = empty.valid_from_ms;
    let s = signed_by(&empty, &g, &[0, 1, 2]);
    assert!(matches!(
        verify(&s, &g, 3),
        Err(TopologyError::EmptyWindow { .. })
    ));
}

proptest! {
    #[test]
    fn epoch_window_contains_the_time_it_came_from(
        gt in 0u64..1u64 << 50,
        len in 1u64..1u64 << 40,
        offset in 0u64..1u64 << 60,
    ) {
        let mut g = genesis(1, 1, 1, 1);
        g.genesis_time_unix_ms = gt;
        g.epoch_length_ms = len;
        let now = gt + offset;
        let e = epoch_at(&g, now).unwrap();
        let (from, until) = epoch_window(&g, e).unwrap();
        prop_assert!(from <= now && now < until);
        prop_assert_eq!(until - from, len);
        prop_assert_eq!(epoch_window(&g, e.next()).unwrap().0, until);
    }
}
