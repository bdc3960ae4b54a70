use ed25519_dalek::Signature;

use super::*;
use crate::ledger::LedgerError;
use crate::selection::SelectionParams;
use crate::statement::{NodeRole, SignedStatement, StatementError};
use crate::test_util::{
    account_key, bond, deposit, fake_spend, forged_spend, genesis, identity, next_block,
    next_header, node_key, unbond, validator_key, FakeSpends,
};
use crate::topology::verify_signed_topology_for;

/// Genesis time and epoch timing of `test_util::genesis`: 60 s epochs, cutoffs 15 s early.
const T0: u64 = 1_000_000;

fn cutoff(epoch: u64) -> u64 {
    T0 + (epoch + 1) * 60_000 - 15_000
}

/// 4 accounts of 10 000, 4 validators, threshold 3.
fn setup() -> (Genesis, GenesisHash, ChainState) {
    let g = genesis(4, 10_000, 4, 3);
    let h = g.genesis_hash();
    let state = ChainState::genesis(&g).unwrap();
    (g, h, state)
}

fn stmt(s: SignedStatement) -> Transaction {
    Transaction::Statement(s)
}

fn spend(serial: u64, nonce: u8) -> Transaction {
    Transaction::Spend(Box::new(fake_spend(serial, 6, nonce)))
}

fn vote(state: &ChainState, epoch: u64, validator: u32) -> Transaction {
    let topology = &state.topology_record(EpochId(epoch)).unwrap().topology;
    Transaction::TopologySignature(TopologyVote::sign(
        topology,
        &state.genesis_hash(),
        &validator_key(validator),
    ))
}

/// Six mixnodes (nodes 0-5) and two gateways (6, 7): accounts 0 and 1 bond four each.
fn bonds(h: GenesisHash) -> Vec<Transaction> {
    (0..8u32)
        .map(|i| {
            let role = if i < 6 {
                NodeRole::Mixnode
            } else {
                NodeRole::Gateway
            };
            stmt(bond(
                h,
                i / 4,
                u64::from(i % 4),
                i,
                role,
                200 + u64::from(i) * 10,
            ))
        })
        .collect()
}

/// Applies a valid block, checking the cached hash against a fresh computation.
fn apply(state: &ChainState, time_ms: u64, txs: Vec<Transaction>) -> ChainState {
    let block = next_block(state, time_ms, txs);
    let next = state
        .validate_block(&block, &FakeSpends)
        .unwrap_or_else(|e| panic!("block refused: {e}"));
    assert_eq!(next.last_block(), block.id());
    assert_eq!(next.state_hash(), next.compute_hash());
    next
}

/// The refusal of a block holding `txs`, which must be for one of its transactions.
fn refused_tx(state: &ChainState, txs: Vec<Transaction>) -> (usize, ChainError) {
    let block = next_block(state, state.last_time_ms() + 1, txs);
    match state.validate_block(&block, &FakeSpends) {
        Err(ChainError::InvalidTransaction { index, id, source }) => {
            assert_eq!(id, block.transactions[index].id());
            (index, *source)
        }
        other => panic!("expected an invalid transaction, got {other:?}"),
    }
}

fn corrupt(s: SignedStatement) -> SignedStatement {
    let mut bytes = s.signature.to_bytes();
    bytes[0] ^= 1;
    SignedStatement {
        statement: s.statement,
        signature: Signature::from_bytes(&bytes),
    }
}

#[test]
fn genesis_state_holds_the_epoch_0_topology_the_service_builds() {
    let (g, h, s) = setup();
    assert_eq!(s.height(), 0);
    assert_eq!(s.last_block(), BlockId::GENESIS);
    assert_eq!(s.last_time_ms(), T0);
    assert_eq!(s.genesis_hash(), h);
    assert_eq!(s.next_to_close(), EpochId(0));
    assert_eq!(s.chain_hash(), TopologyHash::NONE);
    assert_eq!(s.latest_topology_epoch(), Some(EpochId(0)));
    assert_eq!(s.ledger(), &Ledger::from_genesis(&g));
    // What the epoch-batch service computes at start, at height 0.
    let params = SelectionParams::from_genesis(&g, EpochId(0), TopologyHash::NONE);
    assert_eq!(s.params().selection(EpochId(0), TopologyHash::NONE), params);
    let active = select_active_set(&params, s.bonded_nodes()).unwrap();
    let expected = Topology::from_selection(&g, &active, 0).unwrap();
    let record = s.topology_record(EpochId(0)).unwrap();
    assert_eq!(record.topology, expected);
    assert_eq!(record.hash, expected.topology_hash());
    assert_eq!((record.height, record.signatures.len()), (0, 0));
    assert_eq!(s.state_hash(), s.compute_hash());
}

#[test]
fn blocks_apply_statements_spends_and_votes() {
    let (g, h, s0) = setup();
    let mut txs = bonds(h);
    txs.push(stmt(deposit(h, 2, 0, 300, 9)));
    txs.push(spend(1, 1));
    let s1 = apply(&s0, T0 + 1_000, txs);
    assert_eq!((s1.height(), s1.last_time_ms()), (1, T0 + 1_000));
    assert_eq!(s1.bonded_nodes().count(), 8);
    let a0 = s1.account(&identity(&account_key(0))).unwrap();
    assert_eq!(
        (a0.balance, a0.next_nonce),
        (10_000 - 200 - 210 - 220 - 230, 4)
    );
    let d = s1.deposit(&CredentialRequestDigest([9; 32])).unwrap();
    assert_eq!((d.account, d.amount), (identity(&account_key(2)), 300));
    assert_eq!(
        s1.account(&identity(&account_key(2))).unwrap().balance,
        9_700
    );
    let tag = fake_spend(1, 6, 1).theta.zeta_bytes();
    assert_eq!(
        s1.spend(&tag),
        Some(&SpendRecord {
            gateway: identity(&node_key(6)),
            nonce: SpendNonce([1; 32]),
            height: 1,
        })
    );
    assert_eq!(s1.spent_count(), 1);
    // The state it was applied to did not change.
    assert_eq!(
        (s0.height(), s0.bonded_nodes().count(), s0.spent_count()),
        (0, 0, 0)
    );

    // The block at the cutoff builds epoch 1's topology from the bonds.
    let s2 = apply(&s1, cutoff(0), vec![]);
    let record = s2.topology_record(EpochId(1)).unwrap();
    assert_eq!((record.height, record.topology.height), (2, 2));
    assert_eq!(
        (
            record.topology.mixnodes.len(),
            record.topology.gateways.len()
        ),
        (6, 2)
    );
    assert!(record.topology.is_routable());
    assert_eq!(s2.chain_hash(), record.hash);

    // Three validators' votes make it acceptable to clients (threshold 3).
    let votes = (0..3).map(|v| vote(&s2, 1, v)).collect();
    let s3 = apply(&s2, cutoff(0) + 1, votes);
    let signed = s3.topology(EpochId(1)).unwrap();
    assert_eq!(signed.signatures.len(), 3);
    assert_eq!(
        verify_signed_topology_for(&signed, &g).unwrap(),
        &record.topology
    );
    // Two are not enough.
    let two = apply(
        &s2,
        cutoff(0) + 1,
        (0..2).map(|v| vote(&s2, 1, v)).collect(),
    );
    assert!(verify_signed_topology_for(&two.topology(EpochId(1)).unwrap(), &g).is_err());
}

#[test]
fn proposer_path_and_validator_path_reach_the_same_state() {
    let (_, h, s0) = setup();
    let s1 = apply(&s0, cutoff(0), bonds(h));
    let txs = vec![
        stmt(deposit(h, 2, 0, 300, 9)),
        spend(1, 1),
        vote(&s1, 1, 0),
        stmt(unbond(h, 0, 4, 0)),
    ];
    let block = next_block(&s1, cutoff(0) + 5, txs.clone());
    let validated = s1.validate_block(&block, &FakeSpends).unwrap();
    let verified: Vec<VerifiedTx> = txs
        .into_iter()
        .map(|tx| VerifiedTx::verify(tx, &s1, &FakeSpends).unwrap())
        .collect();
    let proposed = s1.apply_verified_block(&block.header, &verified).unwrap();
    assert_eq!(proposed.state_hash(), validated.state_hash());
    assert_eq!(proposed.last_block(), block.id());
    assert_eq!(proposed.bonded_nodes().count(), 7);
}

#[test]
fn replicas_agree_and_the_hash_covers_the_state() {
    let (g, h, a0) = setup();
    let b0 = ChainState::genesis(&g).unwrap();
    assert_eq!(a0.state_hash(), b0.state_hash());
    let other_chain = ChainState::genesis(&genesis(4, 10_000, 4, 2)).unwrap();
    assert_ne!(a0.state_hash(), other_chain.state_hash());

    let blocks: [(u64, Vec<Transaction>); 3] = [
        (T0 + 10, bonds(h)),
        (cutoff(0), vec![spend(3, 1)]),
        (cutoff(2), vec![stmt(deposit(h, 3, 0, 1, 1))]),
    ];
    let (mut a, mut b) = (a0.clone(), b0);
    let mut seen = vec![a.state_hash()];
    for (time, txs) in blocks {
        let block = next_block(&a, time, txs);
        let bytes = block.encode();
        a = a.validate_block(&block, &FakeSpends).unwrap();
        b = b
            .validate_block(&Block::decode(&bytes).unwrap(), &FakeSpends)
            .unwrap();
        assert_eq!(a.state_hash(), b.state_hash());
        assert!(!seen.contains(&a.state_hash()));
        seen.push(a.state_hash());
    }
    // The same (empty) block at another time, or by another proposer, is another state.
    let at = |time| apply(&a0, time, vec![]).state_hash();
    assert_ne!(at(T0 + 1), at(T0 + 2));
    let mut header = next_header(&a0, T0 + 1);
    header.proposer = identity(&validator_key(1));
    let by_other = a0.apply_verified_block(&header, &[]).unwrap();
    assert_ne!(by_other.state_hash(), at(T0 + 1));
}

#[test]
fn header_refusals() {
    let (g, _, s0) = setup();
    let s1 = apply(&s0, T0 + 1_000, vec![]);
    let good = next_block(&s1, T0 + 2_000, vec![]);
    assert!(s1.validate_block(&good, &FakeSpends).is_ok());
    let with = |change: &dyn Fn(&mut BlockHeader)| {
        let mut b = good.clone();
        change(&mut b.header);
        let refused = s1.validate_block(&b, &FakeSpends).unwrap_err();
        // The proposer's path refuses it the same way.
        assert_eq!(
            s1.apply_verified_block(&b.header, &[]).unwrap_err(),
            refused
        );
        refused
    };
    for height in [1, 3] {
        assert_eq!(
            with(&|h| h.height = height),
            ChainError::BadHeight {
                expected: 2,
                got: height
            }
        );
    }
    assert_eq!(
        with(&|h| h.parent = BlockId::GENESIS),
        ChainError::BadParent {
            expected: s1.last_block(),
            got: BlockId::GENESIS
        }
    );
    assert_eq!(
        with(&|h| h.state_hash = s0.state_hash()),
        ChainError::BadStateHash {
            expected: s1.state_hash(),
            got: s0.state_hash()
        }
    );
    for time in [T0 + 1_000, T0 + 999] {
        assert_eq!(
            with(&|h| h.time_ms = time),
            ChainError::TimeNotIncreasing {
                last_ms: T0 + 1_000,
                got_ms: time
            }
        );
    }
    let outsider = identity(&account_key(0));
    assert_eq!(
        with(&|h| h.proposer = outsider),
        ChainError::UnknownProposer(outsider)
    );
    // The first block must come after the genesis time.
    let at_genesis = next_block(&s0, g.genesis_time_unix_ms, vec![]);
    assert_eq!(
        s0.validate_block(&at_genesis, &FakeSpends)
            .unwrap_err()
            .kind(),
        "time_not_increasing"
    );
}

#[test]
fn limit_refusals() {
    let (_, h, s0) = setup();
    let d = stmt(deposit(h, 0, 0, 1, 1));
    let block = next_block(&s0, T0 + 1, vec![d.clone(); MAX_BLOCK_TXS + 1]);
    assert_eq!(
        s0.validate_block(&block, &FakeSpends).unwrap_err(),
        (ChainError::TooManyTxs {
            count: MAX_BLOCK_TXS + 1,
            max: MAX_BLOCK_TXS
        })
    );
    let verified = VerifiedTx::verify(d, &s0, &FakeSpends).unwrap();
    assert!(matches!(
        s0.apply_verified_block(&block.header, &vec![verified; MAX_BLOCK_TXS + 1]),
        Err(ChainError::TooManyTxs { .. })
    ));

    let block = next_block(&s0, T0 + 1, vec![spend(1, 1); MAX_SPENDS_PER_BLOCK + 1]);
    assert_eq!(
        s0.validate_block(&block, &FakeSpends).unwrap_err(),
        (ChainError::TooManySpends {
            count: MAX_SPENDS_PER_BLOCK + 1,
            max: MAX_SPENDS_PER_BLOCK
        })
    );

    // Few transactions, but big ones (checked before any of them is verified).
    let mut big = fake_spend(1, 6, 1);
    big.public_attributes.credential_type = "x".repeat(1 << 20);
    let block = next_block(&s0, T0 + 1, vec![Transaction::Spend(Box::new(big)); 5]);
    assert!(matches!(
        s0.validate_block(&block, &FakeSpends),
        Err(ChainError::TooManyBytes { bytes, max: MAX_BLOCK_BYTES }) if bytes > 5 << 20
    ));
}

#[test]
fn an_invalid_transaction_invalidates_the_block() {
    let (_, h, s0) = setup();
    let s1 = apply(&s0, T0 + 1, [bonds(h), vec![spend(1, 1)]].concat());
    let s2 = apply(&s1, cutoff(0), vec![]);
    let ok = stmt(deposit(h, 2, 0, 1, 1));
    let other_chain = genesis(1, 1, 1, 1).genesis_hash();

    let (i, e) = refused_tx(
        &s2,
        vec![ok.clone(), stmt(deposit(other_chain, 2, 0, 1, 1))],
    );
    assert!(i == 1 && matches!(e, ChainError::WrongChain { .. }), "{e}");
    let (_, e) = refused_tx(&s2, vec![stmt(corrupt(deposit(h, 2, 0, 1, 1)))]);
    assert!(matches!(
        e,
        ChainError::BadStatement(StatementError::BadSignature { .. })
    ));
    let (_, e) = refused_tx(&s2, vec![stmt(deposit(h, 2, 5, 1, 1))]);
    assert_eq!(
        e,
        ChainError::Ledger(LedgerError::NonceGap { nonce: 5, next: 0 })
    );
    let (_, e) = refused_tx(&s2, vec![stmt(deposit(h, 2, 0, 20_000, 1))]);
    assert!(matches!(
        e,
        ChainError::Ledger(LedgerError::InsufficientBalance { .. })
    ));
    // Two deposits for one request, in one block.
    let (i, e) = refused_tx(&s2, vec![ok.clone(), stmt(deposit(h, 3, 0, 1, 1))]);
    assert!(i == 1 && matches!(e, ChainError::Ledger(LedgerError::DuplicateDeposit(_))));

    let (_, e) = refused_tx(
        &s2,
        vec![Transaction::Spend(Box::new(forged_spend(2, 6, 1)))],
    );
    assert!(matches!(e, ChainError::BadSpend(_)), "{e}");
    // Double spends: two presentations of one credential in a block, and one spent before.
    let (i, e) = refused_tx(&s2, vec![spend(2, 1), spend(2, 2)]);
    assert!(i == 1 && matches!(e, ChainError::DoubleSpend { .. }), "{e}");
    let (i, e) = refused_tx(&s2, vec![spend(2, 1), spend(1, 2)]);
    assert!(i == 1 && matches!(e, ChainError::DoubleSpend { .. }), "{e}");

    // Topology votes.
    let t0 = s2.topology_record(EpochId(0)).unwrap().clone();
    let t1 = s2.topology_record(EpochId(1)).unwrap().clone();
    let v0 = TopologyVote::sign(&t1.topology, &h, &validator_key(0));
    let (_, e) = refused_tx(&s2, vec![vote(&s2, 0, 0), vote(&s2, 0, 0)]);
    assert!(
        matches!(
            e,
            ChainError::DuplicateVote {
                epoch: EpochId(0),
                ..
            }
        ),
        "{e}"
    );
    let s3 = apply(&s2, cutoff(0) + 1, vec![vote(&s2, 1, 0)]);
    let (_, e) = refused_tx(&s3, vec![vote(&s2, 1, 0)]);
    assert!(
        matches!(
            e,
            ChainError::DuplicateVote {
                epoch: EpochId(1),
                ..
            }
        ),
        "{e}"
    );
    let mut unknown = v0.clone();
    unknown.epoch = EpochId(7);
    let (_, e) = refused_tx(&s2, vec![Transaction::TopologySignature(unknown)]);
    assert_eq!(e, ChainError::UnknownEpoch(EpochId(7)));
    let mut mismatch = v0.clone();
    mismatch.topology_hash = t0.hash;
    let (_, e) = refused_tx(&s2, vec![Transaction::TopologySignature(mismatch)]);
    assert_eq!(
        e,
        ChainError::TopologyMismatch {
            epoch: EpochId(1),
            expected: t1.hash,
            got: t0.hash
        }
    );
    // The right hash, a signature over other bytes.
    let mut forged = v0.clone();
    forged.signature = t0.topology.sign(&h, &validator_key(0));
    let (_, e) = refused_tx(&s2, vec![Transaction::TopologySignature(forged)]);
    assert!(
        matches!(
            e,
            ChainError::BadTopologySignature {
                epoch: EpochId(1),
                ..
            }
        ),
        "{e}"
    );
    // Signed by a key outside the validator set (4 validators: keys 0-3).
    let outsider = TopologyVote::sign(&t1.topology, &h, &validator_key(4));
    let (_, e) = refused_tx(&s2, vec![Transaction::TopologySignature(outsider)]);
    assert_eq!(e, ChainError::NotAValidator(identity(&validator_key(4))));
    // Each of the refused transactions above is fine alone in a valid block.
    apply(
        &s2,
        cutoff(0) + 1,
        vec![ok, spend(2, 1), Transaction::TopologySignature(v0)],
    );
}

#[test]
fn epochs_close_by_block_time_from_the_state_after_the_block() {
    let (g, h, s0) = setup();
    let s1 = apply(&s0, cutoff(0) - 1, bonds(h));
    assert_eq!(s1.latest_topology_epoch(), Some(EpochId(0)));
    assert_eq!(s1.next_to_close(), EpochId(0));
    // The block at the cutoff closes epoch 0; its own unbond already counts.
    let s2 = apply(&s1, cutoff(0), vec![stmt(unbond(h, 0, 4, 0))]);
    assert_eq!(s2.next_to_close(), EpochId(1));
    let t1 = s2.topology_record(EpochId(1)).unwrap();
    assert_eq!(t1.height, 2);
    let node0 = identity(&node_key(0));
    assert!(t1.topology.mixnodes.iter().all(|m| m.identity_key != node0));
    let expected = |state: &ChainState, epoch: u64, previous| {
        let params = SelectionParams::from_genesis(&g, EpochId(epoch), previous);
        let active = select_active_set(&params, state.bonded_nodes()).unwrap();
        Topology::from_selection(&g, &active, state.height()).unwrap()
    };
    // Epoch 0 was empty, so the seed chain starts from NONE.
    assert_eq!(t1.topology, expected(&s2, 1, TopologyHash::NONE));

    // A bond before epoch 1's cutoff shows in epoch 2, chained from epoch 1's hash.
    let s3 = apply(
        &s2,
        cutoff(1) - 1,
        vec![stmt(bond(h, 2, 0, 0, NodeRole::Mixnode, 5_000))],
    );
    assert_eq!(s3.latest_topology_epoch(), Some(EpochId(1)));
    let s4 = apply(&s3, cutoff(1) + 5, vec![]);
    let t2 = s4.topology_record(EpochId(2)).unwrap();
    assert_eq!(t2.topology, expected(&s4, 2, t1.hash));
    assert!(t2.topology.mixnodes.iter().any(|m| m.identity_key == node0));
    assert_eq!(s4.chain_hash(), t2.hash);
    // The earlier topologies did not change.
    assert_eq!(s4.topology_record(EpochId(1)), Some(t1));
}

#[test]
fn an_idle_chain_skips_ahead_and_keeps_the_newest_topologies() {
    let (g, h, s0) = setup();
    // One block past four cutoffs builds four topologies. (More mixnodes than K, so the
    // seed matters.)
    let more = (8..12u32).map(|i| stmt(bond(h, 2, u64::from(i - 8), i, NodeRole::Mixnode, 300)));
    let s1 = apply(&s0, cutoff(3), bonds(h).into_iter().chain(more).collect());
    let epochs = |s: &ChainState| -> Vec<u64> {
        s.topology_records()
            .map(|r| r.topology.epoch_id.0)
            .collect()
    };
    assert_eq!(epochs(&s1), vec![0, 1, 2, 3, 4]);
    assert_eq!(s1.next_to_close(), EpochId(4));
    // After 197 idle epochs only the newest KEPT_TOPOLOGIES are built, all at this height.
    let s2 = apply(&s1, cutoff(200) + 7, vec![]);
    let newest: Vec<u64> = (202 - KEPT_TOPOLOGIES as u64..=201).collect();
    assert_eq!(epochs(&s2), newest);
    assert!(s2.topology_records().all(|r| r.height == 2));
    assert_eq!(s2.next_to_close(), EpochId(201));
    // The first of them was seeded by the last topology built before the idle stretch:
    // the skipped epochs were never built, not even to be dropped.
    let first = s2.topology_record(EpochId(newest[0])).unwrap();
    let params = SelectionParams::from_genesis(&g, EpochId(newest[0]), s1.chain_hash());
    let active = select_active_set(&params, s2.bonded_nodes()).unwrap();
    assert_eq!(
        first.topology,
        Topology::from_selection(&g, &active, 2).unwrap()
    );
    assert_eq!(
        s1.chain_hash(),
        s1.topology_record(EpochId(4)).unwrap().hash
    );
    // From then on each closed epoch pushes out the oldest.
    let s3 = apply(&s2, cutoff(201), vec![]);
    assert_eq!(epochs(&s3).len(), KEPT_TOPOLOGIES);
    assert_eq!(epochs(&s3).first(), Some(&(newest[0] + 1)));
    assert_eq!(s3.latest_topology_epoch(), Some(EpochId(202)));
    // Queries by time.
    let at = |t| s1.topology_at_time(t).map(|s| s.topology.epoch_id.0);
    assert_eq!(at(T0), Some(0));
    assert_eq!(at(T0 + 2 * 60_000 + 5), Some(2));
    assert_eq!(at(T0 + 5 * 60_000), None);
}

#[test]
fn the_seed_chain_moves_only_with_nonempty_topologies() {
    let (_, h, s0) = setup();
    let idle = apply(&s0, cutoff(2), vec![]);
    assert_eq!(idle.chain_hash(), TopologyHash::NONE);
    let bonded = apply(&idle, cutoff(2) + 1, bonds(h));
    let s = apply(&bonded, cutoff(3), vec![]);
    let newest = s.topology_record(EpochId(4)).unwrap();
    assert!(!newest.topology.mixnodes.is_empty());
    assert_eq!(s.chain_hash(), newest.hash);
}

#[test]
fn a_block_copies_the_state_once() {
    use crate::test_util::clone_probe::count;
    let (_, h, s0) = setup();
    let block = next_block(&s0, cutoff(0), [bonds(h), vec![spend(1, 1)]].concat());
    let (states, ledgers) = (count("chain_state"), count("ledger"));
    let s1 = s0.validate_block(&block, &FakeSpends).unwrap();
    assert_eq!(count("chain_state"), states + 1);
    assert_eq!(count("ledger"), ledgers + 1);
    assert_eq!(s1.height(), 1);
}

#[test]
fn the_state_hash_covers_every_part() {
    let (_, h, s0) = setup();
    let s1 = apply(&s0, cutoff(0), [bonds(h), vec![spend(1, 1)]].concat());
    let s = apply(&s1, cutoff(0) + 1, vec![vote(&s1, 1, 0)]);
    let base = s.compute_hash();
    let tag = fake_spend(1, 6, 1).theta.zeta_bytes();
    type Change = (&'static str, fn(&mut ChainState));
    let changes: [Change; 11] = [
        ("height", |s| s.height += 1),
        ("last block", |s| s.last_block = BlockId([1; 32])),
        ("last time", |s| s.last_time_ms += 1),
        ("ledger", |s| {
            let d = deposit(s.genesis_hash(), 3, 0, 1, 1);
            s.ledger.apply(&d).unwrap();
        }),
        ("spent tag", |s| {
            s.spent
                .insert([7; ZETA_BYTES], s.spent.values().next().unwrap().clone());
        }),
        ("spend record", |s| {
            s.spent.values_mut().for_each(|r| r.height += 1);
        }),
        ("topology record", |s| {
            s.topologies.values_mut().last().unwrap().height += 1;
        }),
        ("topology signature", |s| {
            s.topologies.values_mut().last().unwrap().signatures.clear();
        }),
        ("topology set", |s| {
            s.topologies.pop_first();
        }),
        ("chain hash", |s| s.chain_hash = TopologyHash([3; 32])),
        ("next to close", |s| {
            s.next_to_close = s.next_to_close.next()
        }),
    ];
    assert!(s.spend(&tag).is_some());
    for (what, change) in changes {
        let mut changed = s.clone();
        change(&mut changed);
        assert_ne!(changed.compute_hash(), base, "{what} is not covered");
    }
}

/// The chain of `setup` with Sphinx keys rotating every two epochs (120 s), 10 s overlap.
fn setup_rotating() -> (GenesisHash, ChainState) {
    let mut g = genesis(4, 10_000, 4, 3);
    g.key_rotation = Some(crate::rotation::KeyRotationParams {
        length_ms: 120_000,
        overlap_ms: 10_000,
    });
    g.validate().unwrap();
    let h = g.genesis_hash();
    (h, ChainState::genesis(&g).unwrap())
}

fn announce(h: GenesisHash, node: u32, rotation: u64) -> Transaction {
    Transaction::SphinxKey(SphinxKeyAnnouncement::sign(
        &h,
        &node_key(node),
        crate::rotation::RotationId(rotation),
        crate::test_util::sphinx_key(1_000 * (rotation as u32 + 1) + node),
    ))
}

#[test]
fn with_rotation_a_topology_lists_announced_keys_and_leaves_out_the_silent() {
    use crate::rotation::RotationId;
    let (h, s0) = setup_rotating();
    assert!(
        s0.topology_record(EpochId(0))
            .unwrap()
            .topology
            .mixnodes
            .is_empty(),
        "at genesis no node has announced a key"
    );
    // Nodes 1-7 announce rotation 0's key, node 1 also rotation 1's; node 0 stays silent.
    let mut txs = bonds(h);
    txs.extend((1..8).map(|n| announce(h, n, 0)));
    txs.push(announce(h, 1, 1));
    let s1 = apply(&s0, cutoff(0) - 1, txs);
    let s2 = apply(&s1, cutoff(0), vec![]);
    let t1 = &s2.topology_record(EpochId(1)).unwrap().topology;
    assert_eq!(t1.rotation, Some(RotationId(0)));
    let node = |n: u32| identity(&node_key(n));
    assert!(t1.mixnodes.iter().all(|m| m.identity_key != node(0)));
    assert_eq!(t1.mixnodes.len() + t1.gateways.len(), 7);
    for m in &t1.mixnodes {
        let n = (1..8).find(|n| node(*n) == m.identity_key).unwrap();
        assert_eq!(
            m.sphinx_key,
            crate::test_util::sphinx_key(1_000 + n),
            "the announced key, not the bonded one"
        );
        let next = (n == 1).then(|| crate::test_util::sphinx_key(2_000 + 1));
        assert_eq!(m.next_sphinx_key, next);
    }
    // Epoch 2 lies in rotation 1, for which only node 1 announced: nobody else is eligible.
    let s3 = apply(&s2, cutoff(1), vec![]);
    let t2 = &s3.topology_record(EpochId(2)).unwrap().topology;
    assert_eq!(t2.rotation, Some(RotationId(1)));
    let listed: Vec<_> = t2.mixnodes.iter().map(|m| m.identity_key).collect();
    assert_eq!(listed, vec![node(1)]);
    assert!(t2.gateways.is_empty());

    // Refusals (now in rotation 1): a second key for a rotation, the past, too far ahead,
    // a forged signature, another node's key, an unbonded node.
    let s3 = apply(&s3, T0 + 121_000, vec![]);
    let (_, e) = refused_tx(&s3, vec![announce(h, 1, 1)]);
    assert_eq!(e.kind(), "sphinx_key_already_announced");
    let (_, e) = refused_tx(&s3, vec![announce(h, 0, 0)]);
    assert_eq!(
        e.kind(),
        "sphinx_key_refused",
        "rotation 0 is over at {}",
        s3.last_time_ms()
    );
    let (_, e) = refused_tx(&s3, vec![announce(h, 2, 3)]);
    assert_eq!(e.kind(), "sphinx_key_refused");
    let Transaction::SphinxKey(mut forged) = announce(h, 2, 1) else {
        unreachable!()
    };
    forged.node = node(3);
    let (_, e) = refused_tx(&s3, vec![Transaction::SphinxKey(forged)]);
    assert_eq!(e.kind(), "bad_sphinx_key_signature");
    let copied = Transaction::SphinxKey(SphinxKeyAnnouncement::sign(
        &h,
        &node_key(2),
        RotationId(1),
        crate::test_util::sphinx_key(2_001),
    ));
    let (_, e) = refused_tx(&s3, vec![copied]);
    assert_eq!(e.kind(), "sphinx_key_refused");
    let (_, e) = refused_tx(&s3, vec![announce(h, 9, 1)]);
    assert_eq!(e.kind(), "sphinx_key_refused");

    // The announcements are in the state hash and survive a snapshot.
    let s4 = apply(&s3, s3.last_time_ms() + 1, vec![announce(h, 2, 1)]);
    assert_ne!(s4.state_hash(), s3.state_hash());
    let snapshot = crate::chain::StateSnapshot::decode(&s4.snapshot().encode()).unwrap();
    let restored = ChainState::from_snapshot(Arc::clone(s4.params()), snapshot).unwrap();
    assert_eq!(restored.state_hash(), s4.state_hash());
    assert_eq!(restored.sphinx_keys(), s4.sphinx_keys());
    // Keys of rotations before the previous one are pruned: at rotation 2, rotation 0's go.
    let s5 = apply(&s4, T0 + 240_000, vec![]);
    assert!(s5
        .sphinx_keys()
        .entries()
        .all(|e| e.rotation >= RotationId(1)));
    assert!(s4
        .sphinx_keys()
        .entries()
        .any(|e| e.rotation == RotationId(0)));
}

#[test]
fn a_chain_without_rotation_refuses_announcements() {
    let (_g, h, s0) = setup();
    let s1 = apply(&s0, T0 + 1, bonds(h));
    let (_, e) = refused_tx(&s1, vec![announce(h, 1, 0)]);
    assert_eq!(e.kind(), "sphinx_key_refused");
}
