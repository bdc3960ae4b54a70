//! The chain as a whole: a proposer that builds blocks from its mempool and a replica that
//! only sees the block bytes, driven by random submissions.

use proptest::prelude::*;

use super::*;
use crate::statement::{NodeRole, SignedStatement, Statement};
use crate::test_util::{
    account_key, fake_spend, forged_spend, genesis, next_header, node, node_key, validator_key,
    FakeSpends,
};
use crate::topology::EpochId;

#[derive(Debug, Clone)]
enum Op {
    /// A statement by `account` with a nonce `nonce_delta` off its next free one: a bond or
    /// unbond of node `target`, or a deposit for request `target`.
    Statement {
        account: u32,
        kind: u8,
        nonce_delta: i8,
        amount: u64,
        target: u32,
        bad_signature: bool,
    },
    /// A presentation of credential `serial`.
    Spend {
        serial: u64,
        nonce: u8,
        forged: bool,
    },
    /// A vote by `validator` (4 is outside the set) for a recent epoch, or for other bytes.
    Vote {
        validator: u32,
        back: u64,
        other_bytes: bool,
    },
    /// The proposer commits a block of its selection.
    Commit {
        advance_ms: u64,
        max_txs: usize,
        max_bytes: usize,
        max_spends: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            0..3u32,
            0..3u8,
            prop_oneof![3 => Just(0i8), 1 => -1..3i8],
            1..700u64,
            0..5u32,
            prop::bool::weighted(0.1),
        ).prop_map(
            |(account, kind, nonce_delta, amount, target, bad_signature)| Op::Statement {
                account, kind, nonce_delta, amount, target, bad_signature,
            }
        ),
        2 => (0..4u64, 0..3u8, prop::bool::weighted(0.15))
            .prop_map(|(serial, nonce, forged)| Op::Spend { serial, nonce, forged }),
        2 => (0..5u32, 0..3u64, prop::bool::weighted(0.2)).prop_map(
            |(validator, back, other_bytes)| Op::Vote { validator, back, other_bytes }
        ),
        2 => (
            1..40_000u64,
            1..8usize,
            prop_oneof![Just(MAX_BLOCK_TX_BYTES), 100..3_000usize],
            0..3usize,
        ).prop_map(|(advance_ms, max_txs, max_bytes, max_spends)| Op::Commit {
            advance_ms, max_txs, max_bytes, max_spends,
        }),
    ]
}

/// The transaction an op submits, if any.
fn transaction(op: &Op, pool: &Mempool) -> Option<Transaction> {
    let state = pool.provisional();
    let h = state.genesis_hash();
    match *op {
        Op::Statement {
            account,
            kind,
            nonce_delta,
            amount,
            target,
            bad_signature,
        } => {
            let key = account_key(account);
            let me = crate::test_util::identity(&key);
            let next = state.account(&me).map_or(0, |a| a.next_nonce);
            let nonce = next.saturating_add_signed(i64::from(nonce_delta));
            let statement = match kind {
                0 => {
                    let role = if target < 3 {
                        NodeRole::Mixnode
                    } else {
                        NodeRole::Gateway
                    };
                    let n = node(target, role);
                    Statement::bond(h, me, nonce, n, amount, &node_key(target)).ok()?
                }
                1 => Statement::unbond(h, me, nonce, crate::test_util::identity(&node_key(target))),
                _ => Statement::deposit(
                    h,
                    me,
                    nonce,
                    amount,
                    crate::statement::CredentialRequestDigest([target as u8; 32]),
                ),
            };
            let mut signed = SignedStatement::sign(statement, &key).ok()?;
            if bad_signature {
                let mut bytes = signed.signature.to_bytes();
                bytes[9] ^= 4;
                signed.signature = ed25519_dalek::Signature::from_bytes(&bytes);
            }
            Some(Transaction::Statement(signed))
        }
        Op::Spend {
            serial,
            nonce,
            forged,
        } => {
            let spend = if forged {
                forged_spend(serial, 6, nonce)
            } else {
                fake_spend(serial, 6, nonce)
            };
            Some(Transaction::Spend(Box::new(spend)))
        }
        Op::Vote {
            validator,
            back,
            other_bytes,
        } => {
            let latest = state.latest_topology_epoch()?;
            let epoch = EpochId(latest.0.saturating_sub(back));
            let record = state.topology_record(epoch)?;
            let mut vote = TopologyVote::sign(&record.topology, &h, &validator_key(validator));
            if other_bytes {
                let mut other = record.topology.clone();
                other.height += 1;
                vote.signature = other.sign(&h, &validator_key(validator));
            }
            Some(Transaction::TopologySignature(vote))
        }
        Op::Commit { .. } => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever is submitted, a block of the mempool's selection is valid on the committed
    /// state (on the proposer's path and on a replica that decodes the bytes), both reach the
    /// same state, and committing it invalidates nothing left in the mempool.
    #[test]
    fn mempool_blocks_validate_and_replicas_agree(ops in prop::collection::vec(op(), 1..48)) {
        let g = genesis(3, 1_500, 4, 3);
        let mut proposer = ChainState::genesis(&g).unwrap();
        let mut replica = ChainState::genesis(&g).unwrap();
        let mut pool = Mempool::new(&proposer, MempoolLimits::default());
        let final_commit = Op::Commit {
            advance_ms: 1,
            max_txs: usize::MAX,
            max_bytes: MAX_BLOCK_TX_BYTES,
            max_spends: usize::MAX,
        };
        for op in ops.iter().chain(std::iter::once(&final_commit)) {
            if let Some(tx) = transaction(op, &pool) {
                if let Ok(v) = VerifiedTx::verify(tx, &proposer, &FakeSpends) {
                    let checked = pool.check(&v);
                    let inserted = pool.insert(v);
                    prop_assert_eq!(checked.is_ok(), inserted.is_ok());
                }
                continue;
            }
            let Op::Commit { advance_ms, max_txs, max_bytes, max_spends } = *op else { continue };
            let selection = pool.select(max_txs, max_bytes, max_spends);
            let header = next_header(&proposer, proposer.last_time_ms() + advance_ms);
            let proposed = proposer.apply_verified_block(&header, &selection);
            prop_assert!(proposed.is_ok(), "{:?}", proposed.err());
            let proposed = proposed.unwrap();
            let block = Block {
                header,
                transactions: selection.iter().map(|t| t.tx().clone()).collect(),
            };
            let bytes = block.encode();
            let decoded = Block::decode(&bytes).unwrap();
            let replicated = replica.validate_block(&decoded, &FakeSpends);
            prop_assert!(replicated.is_ok(), "{:?}", replicated.err());
            let replicated = replicated.unwrap();
            prop_assert_eq!(proposed.state_hash(), replicated.state_hash());
            prop_assert_eq!(proposed.last_block(), Block::id_of(&bytes));
            let ids: Vec<TxId> = selection.iter().map(VerifiedTx::id).collect();
            let dropped = pool.on_commit(&proposed, &ids);
            prop_assert!(dropped.is_empty(), "{:?}", dropped);
            proposer = proposed;
            replica = replicated;
        }
        prop_assert!(pool.is_empty());
    }
}

/// The glue shares states, the mempool and verified transactions between threads.
#[test]
fn chain_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ChainState>();
    send_sync::<Mempool>();
    send_sync::<VerifiedTx>();
    send_sync::<Block>();
    send_sync::<ChainParams>();
    send_sync::<ChainError>();
}
