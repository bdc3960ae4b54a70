use proptest::prelude::*;

use super::*;
use crate::statement::{NodeRole, Statement};
use crate::test_util::{account_key, bond, deposit, genesis, identity, node_key, unbond};

const M: NodeRole = NodeRole::Mixnode;

fn setup() -> (GenesisHash, Ledger) {
    let g = genesis(3, 1000, 1, 1);
    let ledger = Ledger::from_genesis(&g);
    (g.genesis_hash(), ledger)
}

fn acct(i: u32) -> IdentityKey {
    identity(&account_key(i))
}

/// Applies and asserts that an error leaves the ledger unchanged.
fn apply(ledger: &mut Ledger, s: &SignedStatement) -> Result<Applied, LedgerError> {
    let before = ledger.clone();
    let r = ledger.apply(s);
    if r.is_err() {
        assert_eq!(*ledger, before, "a failed apply changed the ledger");
    }
    r
}

#[test]
fn genesis_state() {
    let (h, l) = setup();
    assert_eq!(l.genesis_hash(), h);
    assert_eq!(l.accounts().count(), 3);
    assert_eq!(
        l.account(&acct(2)),
        Some(&AccountState {
            balance: 1000,
            next_nonce: 0
        })
    );
    assert_eq!(l.bonded_nodes().count(), 0);
}

#[test]
fn bond_debits_and_registers() {
    let (h, mut l) = setup();
    let r = apply(&mut l, &bond(h, 0, 0, 1, M, 300)).unwrap();
    assert_eq!(
        r,
        Applied::Bonded {
            identity_key: identity(&node_key(1)),
            stake: 300
        }
    );
    assert_eq!(l.account(&acct(0)).unwrap().balance, 700);
    assert_eq!(l.account(&acct(0)).unwrap().next_nonce, 1);
    let nodes: Vec<_> = l.bonded_nodes().collect();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].stake, 300);
    assert_eq!(nodes[0].owner, acct(0));
    assert_eq!(nodes[0].node.identity_key, identity(&node_key(1)));
}

#[test]
fn overspend_is_rejected_with_amounts() {
    let (h, mut l) = setup();
    let err = apply(&mut l, &bond(h, 0, 0, 1, M, 1001)).unwrap_err();
    assert_eq!(
        err,
        LedgerError::InsufficientBalance {
            needed: 1001,
            available: 1000
        }
    );
    assert_eq!(
        err.to_string(),
        "insufficient balance: needs 1001 units, account has 1000"
    );
    apply(&mut l, &deposit(h, 0, 0, 600, 1)).unwrap();
    assert_eq!(
        apply(&mut l, &deposit(h, 0, 1, 401, 2)),
        Err(LedgerError::InsufficientBalance {
            needed: 401,
            available: 400
        })
    );
    // Spending exactly the balance is fine.
    apply(&mut l, &bond(h, 0, 1, 1, M, 400)).unwrap();
    assert_eq!(l.account(&acct(0)).unwrap().balance, 0);
}

#[test]
fn nonces_are_strictly_sequential() {
    let (h, mut l) = setup();
    for n in 0..5 {
        apply(&mut l, &deposit(h, 0, n, 1, n as u8)).unwrap();
    }
    let err = apply(&mut l, &deposit(h, 0, 3, 1, 100)).unwrap_err();
    assert_eq!(err, LedgerError::NonceReused { nonce: 3, next: 5 });
    assert_eq!(err.to_string(), "nonce 3 already used; next is 5");
    // The very same statement again is a replay.
    assert_eq!(
        apply(&mut l, &deposit(h, 0, 4, 1, 4)),
        Err(LedgerError::NonceReused { nonce: 4, next: 5 })
    );
    assert_eq!(
        apply(&mut l, &deposit(h, 0, 7, 1, 100)),
        Err(LedgerError::NonceGap { nonce: 7, next: 5 })
    );
    // Nonces are per account.
    apply(&mut l, &deposit(h, 1, 0, 1, 200)).unwrap();
}

#[test]
fn bad_signature_and_wrong_chain_and_unknown_account() {
    let (h, mut l) = setup();
    let mut s = deposit(h, 0, 0, 5, 1);
    s.statement.nonce = 1; // signature no longer matches
    s.statement.nonce = 0;
    let mut sig = s.signature.to_bytes();
    sig[0] ^= 0x80;
    s.signature = ed25519_dalek::Signature::from_bytes(&sig);
    assert_eq!(
        apply(&mut l, &s),
        Err(LedgerError::Statement(StatementError::BadSignature {
            account: acct(0)
        }))
    );

    let other = GenesisHash([1; 32]);
    assert!(matches!(
        apply(&mut l, &deposit(other, 0, 0, 5, 1)),
        Err(LedgerError::WrongChain { .. })
    ));

    // account_key(9) is not funded at genesis.
    assert_eq!(
        apply(&mut l, &deposit(h, 9, 0, 5, 1)),
        Err(LedgerError::UnknownAccount(acct(9)))
    );
    assert_eq!(l.account(&acct(0)).unwrap().next_nonce, 0);
}

#[test]
fn identity_sphinx_key_and_address_are_unique() {
    let (h, mut l) = setup();
    apply(&mut l, &bond(h, 0, 0, 1, M, 100)).unwrap();
    assert_eq!(
        apply(&mut l, &bond(h, 1, 0, 1, M, 100)),
        Err(LedgerError::IdentityAlreadyBonded {
            identity: identity(&node_key(1)),
            owner: acct(0)
        })
    );
    // Even the owner cannot bond it twice.
    assert!(matches!(
        apply(&mut l, &bond(h, 0, 1, 1, M, 100)),
        Err(LedgerError::IdentityAlreadyBonded { .. })
    ));

    // Node 2 announcing node 1's sphinx key / address.
    let key = account_key(1);
    let mut n = crate::test_util::node(2, M);
    n.sphinx_key = crate::test_util::node(1, M).sphinx_key;
    let st = Statement::bond(h, acct(1), 0, n, 10, &node_key(2)).unwrap();
    assert!(matches!(
        apply(&mut l, &SignedStatement::sign(st, &key).unwrap()),
        Err(LedgerError::SphinxKeyInUse { .. })
    ));
    let mut n = crate::test_util::node(2, M);
    n.address = crate::test_util::node(1, M).address;
    let st = Statement::bond(h, acct(1), 0, n, 10, &node_key(2)).unwrap();
    assert!(matches!(
        apply(&mut l, &SignedStatement::sign(st, &key).unwrap()),
        Err(LedgerError::AddressInUse { .. })
    ));
}

#[test]
fn unbond_returns_stake_and_removes_the_node() {
    let (h, mut l) = setup();
    apply(&mut l, &bond(h, 0, 0, 1, M, 300)).unwrap();
    apply(&mut l, &bond(h, 0, 1, 2, NodeRole::Gateway, 200)).unwrap();
    assert_eq!(l.account(&acct(0)).unwrap().balance, 500);

    assert_eq!(
        apply(&mut l, &unbond(h, 1, 0, 1)),
        Err(LedgerError::NotOwner {
            identity: identity(&node_key(1)),
            owner: acct(0),
            account: acct(1)
        })
    );
    assert_eq!(
        apply(&mut l, &unbond(h, 0, 2, 3)),
        Err(LedgerError::NotBonded(identity(&node_key(3))))
    );
    assert_eq!(
        apply(&mut l, &unbond(h, 0, 2, 1)).unwrap(),
        Applied::Unbonded {
            identity_key: identity(&node_key(1)),
            returned_stake: 300
        }
    );
    assert_eq!(l.account(&acct(0)).unwrap().balance, 800);
    assert!(l.bond(&identity(&node_key(1))).is_none());
    let left: Vec<_> = l.bonded_nodes().map(|b| b.node.identity_key).collect();
    assert_eq!(left, vec![identity(&node_key(2))]);
    // Unbonding twice fails; bonding again (by anyone) works.
    assert!(matches!(
        apply(&mut l, &unbond(h, 0, 3, 1)),
        Err(LedgerError::NotBonded(_))
    ));
    apply(&mut l, &bond(h, 1, 0, 1, M, 50)).unwrap();
}

#[test]
fn deposits_are_recorded_once() {
    let (h, mut l) = setup();
    let s = deposit(h, 0, 0, 25, 7);
    apply(&mut l, &s).unwrap();
    let digest = CredentialRequestDigest([7; 32]);
    assert_eq!(
        l.deposit(&digest),
        Some(&DepositRecord {
            account: acct(0),
            amount: 25,
            statement_id: s.id()
        })
    );
    assert_eq!(l.account(&acct(0)).unwrap().balance, 975);
    assert_eq!(
        apply(&mut l, &deposit(h, 1, 0, 25, 7)),
        Err(LedgerError::DuplicateDeposit(digest))
    );
}

#[test]
fn state_hash_tracks_state() {
    let (h, mut a) = setup();
    let (_, mut b) = setup();
    assert_eq!(a.state_hash(), b.state_hash());
    a.apply(&deposit(h, 0, 0, 1, 1)).unwrap();
    assert_ne!(a.state_hash(), b.state_hash());
    b.apply(&deposit(h, 0, 0, 1, 1)).unwrap();
    assert_eq!(a.state_hash(), b.state_hash());
    // Same balances but a different deposit digest: different state.
    let (_, mut c) = setup();
    c.apply(&deposit(h, 0, 0, 1, 2)).unwrap();
    assert_ne!(a.state_hash(), c.state_hash());
}

#[test]
fn batch_is_order_independent_where_arrival_order_is_not() {
    let (h, base) = setup();
    // Account 0 bonds, then unbonds, then bonds again; account 1 wants the same node.
    let stmts = vec![
        bond(h, 0, 0, 1, M, 300),
        unbond(h, 0, 1, 1),
        bond(h, 1, 0, 1, M, 100),
        bond(h, 0, 2, 1, M, 500),
    ];
    let mut reversed = stmts.clone();
    reversed.reverse();

    let mut naive_fwd = base.clone();
    let mut naive_rev = base.clone();
    for s in &stmts {
        let _ = naive_fwd.apply(s);
    }
    for s in &reversed {
        let _ = naive_rev.apply(s);
    }
    assert_ne!(
        naive_fwd.state_hash(),
        naive_rev.state_hash(),
        "the example must be order-sensitive for this test to mean anything"
    );

    let mut a = base.clone();
    let mut b = base.clone();
    let ra = a.apply_batch(&stmts);
    let rb = b.apply_batch(&reversed);
    assert_eq!(ra, rb);
    assert_eq!(a.state_hash(), b.state_hash());
    assert!(ra.iter().all(|(_, r)| r.is_ok()) || ra.iter().any(|(_, r)| r.is_err()));
    // The canonical order sorts by account key, then nonce.
    let first_account = std::cmp::min(acct(0), acct(1));
    let winner = a.bond(&identity(&node_key(1))).unwrap();
    assert_eq!(winner.owner, first_account);
}

#[test]
fn batch_drops_duplicates_and_resolves_equivocation_by_id() {
    let (h, base) = setup();
    let x = deposit(h, 0, 0, 10, 1);
    let y = deposit(h, 0, 0, 20, 2);
    let mut l = base.clone();
    let r = l.apply_batch(&[x.clone(), y.clone(), x.clone(), y.clone()]);
    assert_eq!(r.len(), 2);
    let (winner, loser) = if x.id() < y.id() { (&x, &y) } else { (&y, &x) };
    assert_eq!(r[0].0, winner.id());
    assert!(r[0].1.is_ok());
    assert_eq!(r[1].0, loser.id());
    assert_eq!(r[1].1, Err(LedgerError::NonceReused { nonce: 0, next: 1 }));
    // A rejected statement does not use up the nonce: later nonces still line up.
    let (_, mut m) = setup();
    let r = m.apply_batch(&[deposit(h, 0, 0, 5000, 1), deposit(h, 0, 1, 5, 2)]);
    assert!(matches!(
        r[0].1,
        Err(LedgerError::InsufficientBalance { .. })
    ));
    assert_eq!(r[1].1, Err(LedgerError::NonceGap { nonce: 1, next: 0 }));
}

#[test]
fn corrupted_copy_of_a_statement_does_not_make_the_batch_order_dependent() {
    let (h, base) = setup();
    let good = deposit(h, 0, 0, 10, 1);
    let mut bad = good.clone();
    let mut b = bad.signature.to_bytes();
    b[3] ^= 1;
    bad.signature = ed25519_dalek::Signature::from_bytes(&b);
    assert_eq!(
        good.id(),
        bad.id(),
        "the id covers the statement, not the signature"
    );

    let mut x = base.clone();
    let mut y = base.clone();
    let rx = x.apply_batch(&[good.clone(), bad.clone()]);
    let ry = y.apply_batch(&[bad, good]);
    assert_eq!(rx, ry);
    assert_eq!(x, y);
    assert_eq!(rx.len(), 2);
    assert_eq!(x.account(&acct(0)).unwrap().balance, 990);
}

#[test]
fn pending_pool_admission() {
    let (h, mut l) = setup();
    let mut pool = PendingPool::new(h, 3, 2);
    let a = deposit(h, 0, 0, 1, 1);
    let id = pool.insert(a.clone(), &l).unwrap();
    assert_eq!(pool.insert(a.clone(), &l).unwrap(), id);
    assert_eq!(pool.len(), 1);
    assert!(matches!(
        pool.insert(deposit(GenesisHash([0; 32]), 0, 0, 1, 1), &l),
        Err(LedgerError::WrongChain { .. })
    ));
    let mut bad = deposit(h, 1, 0, 1, 1);
    bad.statement.nonce = 1;
    assert!(matches!(
        pool.insert(bad, &l),
        Err(LedgerError::Statement(StatementError::BadSignature { .. }))
    ));
    pool.insert(deposit(h, 0, 1, 1, 2), &l).unwrap();
    assert_eq!(
        pool.insert(deposit(h, 0, 2, 1, 3), &l),
        Err(LedgerError::PoolFull {
            limit: 2,
            scope: " for this account"
        })
    );
    pool.insert(deposit(h, 1, 0, 1, 4), &l).unwrap();
    assert!(matches!(
        pool.insert(deposit(h, 2, 0, 1, 5), &l),
        Err(LedgerError::PoolFull { limit: 3, .. })
    ));
    let batch = pool.take();
    assert!(pool.is_empty());
    let results = l.apply_batch(&batch);
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert_eq!(
        pool.insert(a, &l),
        Err(LedgerError::NonceReused { nonce: 0, next: 2 })
    );
}

/// One statement of a randomly generated batch.
#[derive(Debug, Clone)]
enum Op {
    Bond {
        acct: u32,
        node: u32,
        gateway: bool,
        amount: Amount,
    },
    Unbond {
        acct: u32,
        node: u32,
    },
    Deposit {
        acct: u32,
        amount: Amount,
        digest: u8,
    },
}

fn op() -> impl Strategy<Value = (Op, u64, bool)> {
    let op = prop_oneof![
        (0..3u32, 0..4u32, any::<bool>(), 1..1200u64).prop_map(|(acct, node, gateway, amount)| {
            Op::Bond {
                acct,
                node,
                gateway,
                amount,
            }
        }),
        (0..3u32, 0..4u32).prop_map(|(acct, node)| Op::Unbond { acct, node }),
        (0..3u32, 1..700u64, 0..3u8).prop_map(|(acct, amount, digest)| Op::Deposit {
            acct,
            amount,
            digest
        }),
    ];
    // (op, nonce, signature intact?)
    (op, 0..4u64, prop::bool::weighted(0.9))
}

fn build(h: GenesisHash, (op, nonce, sig_ok): &(Op, u64, bool)) -> SignedStatement {
    let mut s = match *op {
        Op::Bond {
            acct,
            node,
            gateway,
            amount,
        } => {
            let role = if gateway { NodeRole::Gateway } else { M };
            bond(h, acct, *nonce, node, role, amount)
        }
        Op::Unbond { acct, node } => unbond(h, acct, *nonce, node),
        Op::Deposit {
            acct,
            amount,
            digest,
        } => deposit(h, acct, *nonce, amount, digest),
    };
    if !sig_ok {
        let mut b = s.signature.to_bytes();
        b[5] ^= 1;
        s.signature = ed25519_dalek::Signature::from_bytes(&b);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Two validators that saw the same statements in different orders (and possibly some
    /// twice) reach the same state and the same per-statement results.
    #[test]
    fn apply_batch_is_order_independent(
        (ops, shuffled) in prop::collection::vec(op(), 1..24)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        dup in any::<prop::sample::Index>(),
    ) {
        let (h, base) = setup();
        let a_stmts: Vec<_> = ops.iter().map(|o| build(h, o)).collect();
        let mut b_stmts: Vec<_> = shuffled.iter().map(|o| build(h, o)).collect();
        b_stmts.push(b_stmts[dup.index(b_stmts.len())].clone());

        let mut a = base.clone();
        let mut b = base.clone();
        let ra = a.apply_batch(&a_stmts);
        let rb = b.apply_batch(&b_stmts);
        prop_assert_eq!(&ra, &rb);
        prop_assert_eq!(a.state_hash(), b.state_hash());
        prop_assert_eq!(&a, &b);

        // Conservation: balances + stakes + deposits equal the genesis supply.
        let supply: u128 = a.accounts().map(|(_, s)| u128::from(s.balance)).sum::<u128>()
            + a.bonded_nodes().map(|b| u128::from(b.stake)).sum::<u128>()
            + a.deposits.values().map(|d| u128::from(d.amount)).sum::<u128>();
        prop_assert_eq!(supply, 3000);
    }

    /// Applying one statement either succeeds or leaves the ledger exactly as it was.
    #[test]
    fn failed_apply_is_atomic(ops in prop::collection::vec(op(), 1..24)) {
        let (h, mut l) = setup();
        for o in &ops {
            let s = build(h, o);
            let before = l.clone();
            if l.apply(&s).is_err() {
                prop_assert_eq!(&l, &before);
            } else {
                prop_assert_ne!(l.state_hash(), before.state_hash());
            }
        }
    }
}
