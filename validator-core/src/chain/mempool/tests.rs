use super::*;
use crate::chain::{Block, SpendVerifier, TopologyVote, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK};
use crate::genesis::GenesisHash;
use crate::ledger::LedgerError;
use crate::statement::{NodeRole, SignedStatement};
use crate::test_util::{
    account_key, bond, clone_probe, deposit, fake_spend, genesis, identity, next_block,
    next_header, validator_key, FakeSpends,
};
use crate::topology::EpochId;

const T0: u64 = 1_000_000;

fn setup() -> (GenesisHash, ChainState) {
    let g = genesis(4, 10_000, 4, 3);
    (g.genesis_hash(), ChainState::genesis(&g).unwrap())
}

fn verified(state: &ChainState, tx: Transaction) -> VerifiedTx {
    VerifiedTx::verify(tx, state, &FakeSpends).unwrap()
}

fn st(state: &ChainState, s: SignedStatement) -> VerifiedTx {
    verified(state, Transaction::Statement(s))
}

fn sp(state: &ChainState, serial: u64, nonce: u8) -> VerifiedTx {
    verified(
        state,
        Transaction::Spend(Box::new(fake_spend(serial, 6, nonce))),
    )
}

fn vote(state: &ChainState, epoch: u64, validator: u32) -> VerifiedTx {
    let topology = &state.topology_record(EpochId(epoch)).unwrap().topology;
    let v = TopologyVote::sign(topology, &state.genesis_hash(), &validator_key(validator));
    verified(state, Transaction::TopologySignature(v))
}

/// A vote signed over epoch 0's topology that claims another epoch.
fn vote_claiming(state: &ChainState, epoch: u64) -> VerifiedTx {
    let topology = &state.topology_record(EpochId(0)).unwrap().topology;
    let mut v = TopologyVote::sign(topology, &state.genesis_hash(), &validator_key(2));
    v.epoch = EpochId(epoch);
    verified(state, Transaction::TopologySignature(v))
}

/// Commits the mempool's selection as the next block, checked as a peer would.
fn commit(pool: &mut Mempool, state: &ChainState, time: u64) -> ChainState {
    let txs = pool.select(usize::MAX, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK);
    commit_txs(pool, state, time, &txs)
}

fn commit_txs(pool: &mut Mempool, state: &ChainState, time: u64, txs: &[VerifiedTx]) -> ChainState {
    let block = next_block(state, time, txs.iter().map(|t| t.tx().clone()).collect());
    let next = state.validate_block(&block, &FakeSpends).unwrap();
    let ids: Vec<TxId> = txs.iter().map(VerifiedTx::id).collect();
    let dropped = pool.on_commit(&next, &ids);
    assert!(dropped.is_empty(), "{dropped:?}");
    next
}

fn next_nonce(state: &ChainState, account: u32) -> u64 {
    state
        .account(&identity(&account_key(account)))
        .unwrap()
        .next_nonce
}

#[test]
fn duplicates_are_reported_as_pooled() {
    let (h, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    let tx = st(&s, deposit(h, 0, 0, 5, 1));
    assert_eq!(pool.insert(tx.clone()), Ok(Inserted::New));
    assert_eq!(pool.insert(tx.clone()), Ok(Inserted::AlreadyPooled));
    assert_eq!(pool.check(&tx), Ok(()));
    assert_eq!((pool.len(), pool.bytes()), (1, tx.encoded_len()));
    assert!(pool.contains(&tx.id()));
    assert_eq!(pool.get(&tx.id()), Some(&tx));
}

#[test]
fn nonces_follow_the_pool_and_gaps_are_refused_with_the_reason() {
    let (h, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    pool.insert(st(&s, deposit(h, 0, 0, 5, 1))).unwrap();
    pool.insert(st(&s, deposit(h, 0, 1, 5, 2))).unwrap();
    assert_eq!(next_nonce(pool.provisional(), 0), 2);
    assert_eq!(next_nonce(&s, 0), 0);
    let gap = pool.insert(st(&s, deposit(h, 0, 3, 5, 3))).unwrap_err();
    assert_eq!(
        gap,
        ChainError::Ledger(LedgerError::NonceGap { nonce: 3, next: 2 })
    );
    assert_eq!(gap.kind(), "statement_refused");
    assert!(gap.to_string().contains("nonce 3 is ahead"), "{gap}");
    // Another statement with a pooled nonce is a replay.
    assert_eq!(
        pool.insert(st(&s, deposit(h, 0, 1, 6, 4))).unwrap_err(),
        ChainError::Ledger(LedgerError::NonceReused { nonce: 1, next: 2 })
    );
    // An overspend counts what is pooled: 10 000 - 10 leaves 9 990.
    assert!(matches!(
        pool.insert(st(&s, deposit(h, 0, 2, 9_991, 5))),
        Err(ChainError::Ledger(LedgerError::InsufficientBalance {
            needed: 9_991,
            available: 9_990
        }))
    ));
    // A deposit for a request pooled by another account.
    assert!(matches!(
        pool.insert(st(&s, deposit(h, 1, 0, 5, 2))),
        Err(ChainError::Ledger(LedgerError::DuplicateDeposit(_)))
    ));
    assert_eq!(pool.len(), 2);
}

#[test]
fn limits_are_enforced() {
    let (h, s) = setup();
    let small = MempoolLimits {
        max_txs: 3,
        max_bytes: usize::MAX,
        per_account: 2,
    };
    let mut pool = Mempool::new(&s, small);
    pool.insert(st(&s, deposit(h, 0, 0, 5, 1))).unwrap();
    pool.insert(st(&s, deposit(h, 0, 1, 5, 2))).unwrap();
    assert_eq!(
        pool.insert(st(&s, deposit(h, 0, 2, 5, 3))).unwrap_err(),
        ChainError::AccountFull {
            account: identity(&account_key(0)),
            limit: 2
        }
    );
    pool.insert(st(&s, deposit(h, 1, 0, 5, 4))).unwrap();
    assert_eq!(
        pool.insert(sp(&s, 1, 1)).unwrap_err(),
        ChainError::MempoolFull {
            limit: 3,
            what: "transactions"
        }
    );

    let tx = st(&s, deposit(h, 0, 0, 5, 1));
    let by_bytes = MempoolLimits {
        max_bytes: 2 * tx.encoded_len() + 1,
        ..MempoolLimits::default()
    };
    let mut pool = Mempool::new(&s, by_bytes);
    pool.insert(tx).unwrap();
    pool.insert(st(&s, deposit(h, 0, 1, 5, 2))).unwrap();
    let refused = pool.insert(st(&s, deposit(h, 0, 2, 5, 3))).unwrap_err();
    assert_eq!(
        refused,
        ChainError::MempoolFull {
            limit: by_bytes.max_bytes,
            what: "bytes"
        }
    );
    assert_eq!(refused.kind(), "mempool_full");
}

#[test]
fn a_refused_insert_changes_nothing() {
    let (h, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    pool.insert(st(&s, deposit(h, 0, 0, 5, 1))).unwrap();
    pool.insert(sp(&s, 1, 1)).unwrap();
    let before = (pool.len(), pool.bytes(), pool.provisional().state_hash());
    let bad = [
        st(&s, deposit(h, 0, 5, 5, 2)),
        st(&s, deposit(h, 1, 0, 50_000, 2)),
        sp(&s, 1, 2),
        vote_claiming(&s, 3),
    ];
    for tx in bad {
        let checked = pool.check(&tx).unwrap_err();
        assert_eq!(pool.insert(tx).unwrap_err(), checked);
        assert_eq!(
            (pool.len(), pool.bytes(), pool.provisional().state_hash()),
            before
        );
    }
}

#[test]
fn double_spends_are_refused_pooled_and_committed() {
    let (_, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    let first = sp(&s, 1, 1);
    let tag = *first.spend_tag().unwrap();
    pool.insert(first).unwrap();
    assert!(pool.pending_spend(&tag));
    // The same credential presented again (another nonce, so another id).
    let again = sp(&s, 1, 2);
    assert!(matches!(
        pool.insert(again.clone()),
        Err(ChainError::DoubleSpend { .. })
    ));
    let s1 = commit(&mut pool, &s, T0 + 1);
    assert!(!pool.pending_spend(&tag));
    assert_eq!(s1.spend(&tag).map(|r| r.height), Some(1));
    assert!(matches!(
        pool.insert(again),
        Err(ChainError::DoubleSpend { .. })
    ));
    assert!(pool.is_empty());
}

#[test]
fn selection_is_a_prefix_that_skips_only_what_nothing_depends_on() {
    let (h, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    let txs = [
        st(&s, deposit(h, 0, 0, 5, 1)),
        sp(&s, 1, 1),
        st(&s, deposit(h, 0, 1, 5, 2)),
        sp(&s, 2, 1),
        vote(&s, 0, 1),
        st(&s, deposit(h, 1, 0, 5, 3)),
    ];
    for tx in &txs {
        pool.insert(tx.clone()).unwrap();
    }
    let ids = |v: &[VerifiedTx]| v.iter().map(VerifiedTx::id).collect::<Vec<_>>();
    assert_eq!(
        ids(&pool.select(usize::MAX, usize::MAX, usize::MAX)),
        ids(&txs)
    );
    assert_eq!(ids(&pool.select(2, usize::MAX, usize::MAX)), ids(&txs[..2]));
    // One spend allowed: the second is skipped, the rest taken.
    let one_spend = pool.select(usize::MAX, usize::MAX, 1);
    assert_eq!(ids(&one_spend), ids(&[&txs[..3], &txs[4..]].concat()));
    // A statement that does not fit ends the selection.
    let bytes: usize = txs[..2].iter().map(VerifiedTx::encoded_len).sum();
    assert_eq!(
        ids(&pool.select(usize::MAX, bytes, usize::MAX)),
        ids(&txs[..2])
    );
    // Every selection is a valid block on the committed state.
    for selection in [one_spend, pool.select(usize::MAX, bytes, usize::MAX)] {
        let header = next_header(&s, T0 + 1);
        s.apply_verified_block(&header, &selection).unwrap();
        let block = Block {
            header,
            transactions: selection.into_iter().map(VerifiedTx::into_tx).collect(),
        };
        s.validate_block(&block, &FakeSpends).unwrap();
    }
}

#[test]
fn a_statement_that_does_not_fit_ends_the_selection() {
    let (h, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    // Account 1's deposit depends on its bond (nonce 1 after 0), and is smaller.
    let small = st(&s, deposit(h, 0, 0, 5, 1));
    let big = st(&s, bond(h, 1, 0, 3, NodeRole::Gateway, 100));
    let dependent = st(&s, deposit(h, 1, 1, 5, 2));
    assert!(dependent.encoded_len() < big.encoded_len());
    for tx in [&small, &big, &dependent] {
        pool.insert(tx.clone()).unwrap();
    }
    let budget = small.encoded_len() + dependent.encoded_len();
    let selection = pool.select(usize::MAX, budget, usize::MAX);
    assert_eq!(selection, vec![small]);
    s.apply_verified_block(&next_header(&s, T0 + 1), &selection)
        .unwrap();
}

#[test]
fn a_commit_drops_what_another_block_made_invalid() {
    let (h, s) = setup();
    // Validator A's pool: account 0's deposit for request 1, then its nonce 1, and a spend.
    let mut a = Mempool::new(&s, MempoolLimits::default());
    let x = st(&s, deposit(h, 0, 0, 5, 1));
    let y = st(&s, deposit(h, 0, 1, 5, 2));
    let z = st(&s, deposit(h, 2, 0, 5, 3));
    let presentation = sp(&s, 7, 1);
    for tx in [&x, &y, &z, &presentation] {
        a.insert(tx.clone()).unwrap();
    }
    // Validator B's block: account 1 pays for request 1, account 0 uses nonce 0 otherwise,
    // the credential is presented at another gateway.
    let other_spend = verified(&s, Transaction::Spend(Box::new(fake_spend(7, 7, 9))));
    let block_txs = [
        st(&s, deposit(h, 1, 0, 5, 1)),
        st(&s, bond(h, 0, 0, 3, NodeRole::Mixnode, 100)),
        other_spend.clone(),
        z.clone(),
    ];
    let block = next_block(
        &s,
        T0 + 1,
        block_txs.iter().map(|t| t.tx().clone()).collect(),
    );
    let s1 = s.validate_block(&block, &FakeSpends).unwrap();
    let included: Vec<TxId> = block_txs.iter().map(VerifiedTx::id).collect();
    let dropped = a.on_commit(&s1, &included);
    let reasons: Vec<(TxId, &'static str)> =
        dropped.iter().map(|(id, e)| (*id, e.kind())).collect();
    assert_eq!(
        reasons,
        vec![
            (x.id(), "statement_refused"),
            (presentation.id(), "double_spend"),
        ]
    );
    assert!(matches!(
        dropped[0].1,
        ChainError::Ledger(LedgerError::NonceReused { nonce: 0, next: 1 })
    ));
    // y (nonce 1) still applies after B's nonce 0, and request 2 is still unpaid.
    assert_eq!(a.len(), 1);
    assert!(a.contains(&y.id()));
    assert!(!a.contains(&z.id()));
    assert!(!a.pending_spend(other_spend.spend_tag().unwrap()));
    assert_eq!(a.bytes(), y.encoded_len());
    assert_eq!(next_nonce(a.provisional(), 0), 2);
    // What is left is a valid next block.
    commit(&mut a, &s1, T0 + 2);
    assert!(a.is_empty());
}

#[test]
fn a_conflicting_deposit_is_dropped_when_another_block_includes_the_other() {
    let (h, s) = setup();
    let mut a = Mempool::new(&s, MempoolLimits::default());
    let mut b = Mempool::new(&s, MempoolLimits::default());
    let mine = st(&s, deposit(h, 0, 0, 5, 9));
    let theirs = st(&s, deposit(h, 1, 0, 5, 9));
    a.insert(mine.clone()).unwrap();
    b.insert(theirs).unwrap();
    let s1 = commit(&mut b, &s, T0 + 1);
    let dropped = a.on_commit(&s1, &[]);
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].0, mine.id());
    assert!(matches!(
        dropped[0].1,
        ChainError::Ledger(LedgerError::DuplicateDeposit(_))
    ));
    assert!(a.is_empty());
    assert_eq!(a.bytes(), 0);
    // Account 0 can use nonce 0 again.
    a.insert(st(&s, deposit(h, 0, 0, 5, 10))).unwrap();
}

#[test]
fn votes_go_through_the_pool() {
    let (_, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    let v = vote(&s, 0, 0);
    pool.insert(v.clone()).unwrap();
    assert_eq!(pool.insert(v), Ok(Inserted::AlreadyPooled));
    pool.insert(vote(&s, 0, 1)).unwrap();
    assert!(matches!(
        pool.insert(vote_claiming(&s, 4)),
        Err(ChainError::UnknownEpoch(EpochId(4)))
    ));
    let s1 = commit(&mut pool, &s, T0 + 1);
    assert_eq!(s1.topology(EpochId(0)).unwrap().signatures.len(), 2);
    // A vote already on the chain is a duplicate.
    assert!(matches!(
        pool.insert(vote(&s, 0, 0)),
        Err(ChainError::DuplicateVote { .. })
    ));
}

#[test]
fn a_different_transaction_in_a_pooled_ones_slot_is_refused_not_taken_for_it() {
    let (_, s) = setup();
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    let v = vote(&s, 0, 0);
    pool.insert(v.clone()).unwrap();
    // Validator 0's vote for the same epoch carrying validator 1's signature bytes: the same
    // id (epoch and signer), another transaction, and not a valid one.
    let (Transaction::TopologySignature(mut forged), Transaction::TopologySignature(other)) =
        (v.tx().clone(), vote(&s, 0, 1).tx().clone())
    else {
        unreachable!("votes");
    };
    forged.signature.signature = other.signature.signature;
    let forged = verified(&s, Transaction::TopologySignature(forged));
    assert_eq!(forged.id(), v.id());
    assert_eq!(pool.check(&forged), Err(ChainError::SlotTaken(v.id())));
    assert_eq!(pool.insert(forged), Err(ChainError::SlotTaken(v.id())));
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.get(&v.id()), Some(&v));
    assert_eq!(pool.insert(v), Ok(Inserted::AlreadyPooled));
}

/// Counts how often the verifier runs.
struct Counting(std::cell::Cell<usize>);
impl SpendVerifier for Counting {
    fn verify_spend(
        &self,
        spend: &crate::api::SpendBody,
        keys: Option<&crate::credential::VerificationKeySet>,
    ) -> Result<[u8; crate::coconut::verification::ZETA_BYTES], String> {
        self.0.set(self.0.get() + 1);
        FakeSpends.verify_spend(spend, keys)
    }
}

#[test]
fn submissions_copy_no_state_and_run_no_spend_check() {
    let (h, s) = setup();
    let counting = Counting(std::cell::Cell::new(0));
    let txs: Vec<VerifiedTx> = (0..40u8)
        .map(|i| {
            let tx = if i % 2 == 0 {
                Transaction::Statement(deposit(h, u32::from(i % 4), u64::from(i / 4), 5, i))
            } else {
                Transaction::Spend(Box::new(fake_spend(u64::from(i), 6, i)))
            };
            VerifiedTx::verify(tx, &s, &counting).unwrap()
        })
        .collect();
    assert_eq!(counting.0.get(), 20);
    let mut pool = Mempool::new(&s, MempoolLimits::default());
    let (states, ledgers) = (
        clone_probe::count("chain_state"),
        clone_probe::count("ledger"),
    );
    for tx in &txs {
        pool.check(tx).unwrap();
        pool.insert(tx.clone()).unwrap();
    }
    let selection = pool.select(usize::MAX, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK);
    assert_eq!(selection.len(), 40);
    // Forty checks, inserts and a selection: no copy of the state or the ledger, and no
    // presentation verified again.
    assert_eq!(clone_probe::count("chain_state"), states);
    assert_eq!(clone_probe::count("ledger"), ledgers);
    assert_eq!(counting.0.get(), 20);
    // The proposer applies its own block without verifying again; the commit copies the
    // state once for the block and once for the mempool.
    let header = next_header(&s, T0 + 1);
    let s1 = s.apply_verified_block(&header, &selection).unwrap();
    assert_eq!(counting.0.get(), 20);
    let ids: Vec<TxId> = selection.iter().map(VerifiedTx::id).collect();
    assert!(pool.on_commit(&s1, &ids).is_empty());
    assert_eq!(clone_probe::count("chain_state"), states + 2);
    assert_eq!(clone_probe::count("ledger"), ledgers + 2);
    assert!(pool.is_empty());
}
