//! End to end through the public API: genesis file, statements from two validators' points of
//! view, selection, topology signing and client-side verification.
#![allow(clippy::unwrap_used)]

use ed25519_dalek::SigningKey;
use validator_core::genesis::Genesis;
use validator_core::ledger::{Ledger, PendingPool};
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::selection::{select_active_set, SelectionParams};
use validator_core::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};
use validator_core::topology::{
    epoch_at, verify_signed_topology_for, SignedTopology, Topology, TopologyHash,
};

fn key(tag: u8, i: u8) -> SigningKey {
    let mut b = [0u8; 32];
    b[0] = tag;
    b[1] = i;
    b[31] = 0x5a;
    SigningKey::from_bytes(&b)
}

fn genesis_toml() -> String {
    let mut t = String::from(
        "chain_id = \"flow-test\"\ngenesis_time_unix_ms = 1000\nepoch_length_ms = 500\n\
         threshold = 2\nminimum_bond = 10\n[active_set]\nmixnodes = 3\ngateways = 1\n",
    );
    for i in 0..2 {
        t += &format!(
            "[[accounts]]\npublic_key = \"{}\"\nbalance = 1000\n",
            IdentityKey::from(&key(1, i))
        );
    }
    for i in 0..3 {
        t += &format!(
            "[[validators]]\nidentity_key = \"{}\"\napi_url = \"http://127.0.0.1:{}\"\n",
            IdentityKey::from(&key(2, i)),
            9000 + u16::from(i)
        );
    }
    t
}

fn bond(genesis: &Genesis, nonce: u64, n: u8, role: NodeRole) -> SignedStatement {
    let account = key(1, 0);
    let node_key = key(3, n);
    let node = NodeDescriptor {
        identity_key: IdentityKey::from(&node_key),
        sphinx_key: SphinxKey::from_bytes([n + 1; 32]).unwrap(),
        role,
        address: format!("127.0.0.1:{}", 2000 + u16::from(n))
            .parse()
            .unwrap(),
        clients_address: (role == NodeRole::Gateway).then(|| "ws://127.0.0.1:9999".to_owned()),
    };
    let st = Statement::bond(
        genesis.genesis_hash(),
        IdentityKey::from(&account),
        nonce,
        node,
        100 + u64::from(n),
        &node_key,
    )
    .unwrap();
    SignedStatement::sign(st, &account).unwrap()
}

#[test]
fn genesis_to_verified_topology() {
    let genesis = Genesis::from_toml_str(&genesis_toml()).unwrap();
    let statements: Vec<SignedStatement> = (0..5u8)
        .map(|n| {
            let role = if n < 4 {
                NodeRole::Mixnode
            } else {
                NodeRole::Gateway
            };
            bond(&genesis, u64::from(n), n, role)
        })
        .collect();

    // Two validators receive the statements in opposite orders, over JSON.
    let mut ledgers = Vec::new();
    for reversed in [false, true] {
        let ledger = Ledger::from_genesis(&genesis);
        let mut pool = PendingPool::new(genesis.genesis_hash(), 100, 10);
        let mut incoming = statements.clone();
        if reversed {
            incoming.reverse();
        }
        for s in incoming {
            let wire = serde_json::to_string(&s).unwrap();
            pool.insert(serde_json::from_str(&wire).unwrap(), &ledger)
                .unwrap();
        }
        let mut ledger = ledger;
        let results = ledger.apply_batch(&pool.take());
        assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
        ledgers.push(ledger);
    }
    assert_eq!(ledgers[0].state_hash(), ledgers[1].state_hash());
    let ledger = &ledgers[0];
    assert_eq!(ledger.bonded_nodes().count(), 5);

    // Epoch boundary: select and build the topology; every validator signs the same bytes.
    let epoch = epoch_at(&genesis, 1_600).unwrap();
    assert_eq!(epoch.0, 1);
    let params = SelectionParams::from_genesis(&genesis, epoch, TopologyHash::NONE);
    let active = select_active_set(&params, ledger.bonded_nodes()).unwrap();
    let topology = Topology::from_selection(&genesis, &active, 0).unwrap();
    assert!(topology.is_routable());
    assert_eq!(
        (topology.valid_from_ms, topology.valid_until_ms),
        (1_500, 2_000)
    );
    let signatures = (0..2)
        .map(|i| topology.sign(&genesis.genesis_hash(), &key(2, i)))
        .collect();
    let signed = SignedTopology {
        topology: topology.clone(),
        signatures,
    };

    // A client with the genesis verifies what it fetched.
    let fetched: SignedTopology =
        serde_json::from_str(&serde_json::to_string(&signed).unwrap()).unwrap();
    assert_eq!(
        verify_signed_topology_for(&fetched, &genesis).unwrap(),
        &topology
    );
    let mut one_short = fetched.clone();
    one_short.signatures.pop();
    assert!(verify_signed_topology_for(&one_short, &genesis).is_err());

    // The next epoch's seed chains on this topology.
    let next = SelectionParams::from_genesis(&genesis, epoch.next(), topology.topology_hash());
    assert_ne!(next.seed(), params.seed());
}
