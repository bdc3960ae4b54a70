//! End to end through the public API, without processes: a genesis file, statements over
//! JSON into one validator's mempool, its block checked by another validator, the epoch's
//! topology built by block time, validators' signatures as transactions, and a client's
//! verification.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use validator::service::issuer::Issuer;
use validator_core::chain::{
    Block, BlockHeader, ChainState, Mempool, MempoolLimits, TopologyVote, Transaction, VerifiedTx,
    MAX_BLOCK_TXS, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK,
};
use validator_core::genesis::Genesis;
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};
use validator_core::topology::{verify_signed_topology_for, EpochId, SignedTopology};

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
            "[[validators]]\nidentity_key = \"{}\"\napi_url = \"http://127.0.0.1:{}\"\n\
             p2p_address = \"127.0.0.1:{}\"\n",
            IdentityKey::from(&key(2, i)),
            9000 + u16::from(i),
            27000 + u16::from(i)
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
        noise_key: None,
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

/// The header of the block after `state`, proposed by validator `proposer` at `time_ms`.
fn header(state: &ChainState, proposer: u8, time_ms: u64) -> BlockHeader {
    BlockHeader {
        height: state.height() + 1,
        time_ms,
        parent: state.last_block(),
        proposer: IdentityKey::from(&key(2, proposer)),
        state_hash: state.state_hash(),
    }
}

#[test]
fn genesis_to_verified_topology() {
    let genesis = Genesis::from_toml_str(&genesis_toml()).unwrap();
    let proposer = ChainState::genesis(&genesis).unwrap();
    let follower = ChainState::genesis(&genesis).unwrap();
    let params = Arc::clone(proposer.params());
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

    // The statements arrive over JSON at one validator's mempool, which checks each
    // against its running state.
    let mut mempool = Mempool::new(&proposer, MempoolLimits::default());
    for s in &statements {
        let wire = serde_json::to_string(s).unwrap();
        let tx = Transaction::Statement(serde_json::from_str(&wire).unwrap());
        mempool
            .insert(VerifiedTx::verify(tx, &proposer, &Issuer::new()).unwrap())
            .unwrap();
    }
    // It proposes them as block 1; another validator receives the block's bytes and
    // reaches the same state by checking every transaction again.
    let txs = mempool.select(MAX_BLOCK_TXS, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK);
    assert_eq!(txs.len(), 5);
    let h1 = header(&proposer, 0, 1_100);
    let proposer = proposer.apply_verified_block(&h1, &txs).unwrap();
    let bytes = Block {
        header: h1,
        transactions: txs.into_iter().map(VerifiedTx::into_tx).collect(),
    }
    .encode();
    let follower = follower
        .validate_block(&Block::decode(&bytes).unwrap(), &Issuer::new())
        .unwrap();
    assert_eq!(follower.state_hash(), proposer.state_hash());
    assert_eq!(follower.bonded_nodes().count(), 5);

    // The first block after epoch 0's cutoff (a quarter epoch before its end) builds the
    // topology of epoch 1 from the state after it; every validator computes the same one.
    let cutoff = params.schedule().cutoff(EpochId(0));
    assert_eq!(cutoff, 1_375);
    let h2 = header(&follower, 1, cutoff);
    let follower = follower
        .validate_block(
            &Block {
                header: h2.clone(),
                transactions: Vec::new(),
            },
            &Issuer::new(),
        )
        .unwrap();
    let proposer = proposer.apply_verified_block(&h2, &[]).unwrap();
    let record = follower.topology_record(EpochId(1)).unwrap();
    assert_eq!(record.height, 2);
    assert!(record.topology.is_routable());
    assert_eq!(
        (
            record.topology.valid_from_ms,
            record.topology.valid_until_ms
        ),
        (1_500, 2_000)
    );
    assert_eq!(
        proposer.topology_record(EpochId(1)).unwrap().hash,
        record.hash
    );

    // Two validators sign it; their votes are transactions of block 3.
    let votes: Vec<Transaction> = (0..2)
        .map(|i| {
            Transaction::TopologySignature(TopologyVote::sign(
                &record.topology,
                &genesis.genesis_hash(),
                &key(2, i),
            ))
        })
        .collect();
    let h3 = header(&follower, 2, 1_400);
    let follower = follower
        .validate_block(
            &Block {
                header: h3,
                transactions: votes,
            },
            &Issuer::new(),
        )
        .unwrap();

    // A client with the genesis verifies what it fetched.
    let signed = follower.topology(EpochId(1)).unwrap();
    assert_eq!(signed.signatures.len(), 2);
    let fetched: SignedTopology =
        serde_json::from_str(&serde_json::to_string(&signed).unwrap()).unwrap();
    assert_eq!(
        verify_signed_topology_for(&fetched, &genesis).unwrap(),
        &record.topology
    );
    let mut one_short = fetched.clone();
    one_short.signatures.pop();
    assert!(verify_signed_topology_for(&one_short, &genesis).is_err());
}
