use super::*;
use crate::chain::{ChainState, TopologyVote};
use crate::statement::NodeRole;
use crate::test_util::{bond, deposit, fake_spend, genesis, identity, next_block, validator_key};
use crate::topology::EpochId;

fn sample_block() -> Block {
    let g = genesis(2, 1000, 3, 2);
    let h = g.genesis_hash();
    let state = ChainState::genesis(&g).unwrap();
    let topology = &state.topology_record(EpochId(0)).unwrap().topology;
    next_block(
        &state,
        g.genesis_time_unix_ms + 1,
        vec![
            Transaction::Statement(bond(h, 0, 0, 1, NodeRole::Gateway, 100)),
            Transaction::Statement(deposit(h, 1, 0, 10, 7)),
            Transaction::Spend(Box::new(fake_spend(3, 1, 1))),
            Transaction::TopologySignature(TopologyVote::sign(topology, &h, &validator_key(1))),
        ],
    )
}

#[test]
fn encoding_is_serde_json_and_round_trips() {
    let block = sample_block();
    let bytes = block.encode();
    // The hand-assembled encoding is exactly serde_json's.
    assert_eq!(bytes, serde_json::to_vec(&block).unwrap());
    assert_eq!(Block::decode(&bytes).unwrap(), block);
    assert_eq!(block.id(), Block::id_of(&bytes));
    assert_eq!(
        Block::id_of(&bytes),
        BlockId(sha256(&[BLOCK_ID_DOMAIN, &bytes]))
    );
    let empty = Block {
        header: block.header.clone(),
        transactions: Vec::new(),
    };
    assert_eq!(empty.encode(), serde_json::to_vec(&empty).unwrap());
    assert_eq!(Block::decode(&empty.encode()).unwrap(), empty);
    assert_ne!(empty.id(), block.id());
}

#[test]
fn decode_refuses_oversize_before_parsing() {
    // Not JSON at all: refused for its size, so it was never parsed.
    let junk = vec![b'x'; MAX_BLOCK_BYTES + 1];
    assert_eq!(
        Block::decode(&junk),
        Err(ChainError::TooManyBytes {
            bytes: MAX_BLOCK_BYTES + 1,
            max: MAX_BLOCK_BYTES
        })
    );
    assert!(matches!(
        Block::decode(&junk[..MAX_BLOCK_BYTES]),
        Err(ChainError::Decode(_))
    ));
}

#[test]
fn decode_refuses_other_forms_of_the_same_block() {
    let block = sample_block();
    let text = String::from_utf8(block.encode()).unwrap();
    let header = serde_json::to_string(&block.header).unwrap();
    let txs = serde_json::to_string(&block.transactions).unwrap();
    let variants = [
        format!("{text} "),
        format!(" {text}"),
        text.replacen(':', ": ", 1),
        // Fields in another order.
        format!(r#"{{"transactions":{txs},"header":{header}}}"#),
        // An escaped character in a hex string (the parent of block 1 is all zeros).
        text.replacen(r#""parent":"0"#, r#""parent":"\u0030"#, 1),
    ];
    for v in variants {
        assert_ne!(v, text);
        // Each parses to the same block...
        assert_eq!(serde_json::from_str::<Block>(&v).unwrap(), block, "{v}");
        // ...and is refused.
        assert_eq!(
            Block::decode(v.as_bytes()),
            Err(ChainError::NonCanonical),
            "{v}"
        );
    }
    for bad in [
        text.replacen(r#""height""#, r#""extra":1,"height""#, 1),
        text[..text.len() - 1].to_owned(),
        "[]".to_owned(),
    ] {
        assert!(
            matches!(Block::decode(bad.as_bytes()), Err(ChainError::Decode(_))),
            "{bad}"
        );
    }
}

#[test]
fn selected_transaction_bytes_always_fit_a_block() {
    // The largest possible header, and the separators of the most transactions a block may
    // hold, fit in what MAX_BLOCK_TX_BYTES leaves.
    let block = sample_block();
    let header = BlockHeader {
        height: u64::MAX,
        time_ms: u64::MAX,
        parent: BlockId([0xff; 32]),
        proposer: identity(&validator_key(0)),
        state_hash: ChainStateHash([0xff; 32]),
    };
    let empty = Block {
        header,
        transactions: Vec::new(),
    };
    let overhead = empty.encode().len() + (MAX_BLOCK_TXS - 1);
    assert!(
        overhead <= MAX_BLOCK_BYTES - MAX_BLOCK_TX_BYTES,
        "overhead {overhead}"
    );
    // And a block's size is exactly that overhead plus its transactions.
    let full = Block {
        header: empty.header.clone(),
        transactions: block.transactions.clone(),
    };
    let tx_bytes: usize = full.transactions.iter().map(Transaction::encoded_len).sum();
    assert_eq!(
        full.encode().len(),
        empty.encode().len() + tx_bytes + full.transactions.len() - 1
    );
}
