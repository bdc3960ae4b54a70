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
fn second_statement_with_a_used_nonce_is_a_replay() {
    // Two different statements with the same account and nonce: the first to apply wins.
    let (h, mut l) = setup();
    let x = deposit(h, 0, 0, 10, 1);
    let y = deposit(h, 0, 0, 20, 2);
    assert_ne!(x.id(), y.id());
    apply(&mut l, &x).unwrap();
    assert_eq!(
        apply(&mut l, &y),
        Err(LedgerError::NonceReused { nonce: 0, next: 1 })
    );
    assert_eq!(l.account(&acct(0)).unwrap().balance, 990);
    assert!(l.deposit(&CredentialRequestDigest([2; 32])).is_none());
}

#[test]
fn rejected_statement_does_not_use_up_its_nonce() {
    let (h, mut l) = setup();
    assert!(matches!(
        apply(&mut l, &deposit(h, 0, 0, 5000, 1)),
        Err(LedgerError::InsufficientBalance { .. })
    ));
    assert_eq!(
        apply(&mut l, &deposit(h, 0, 1, 5, 2)),
        Err(LedgerError::NonceGap { nonce: 1, next: 0 })
    );
}

/// One statement of a randomly generated sequence.
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

    /// Applying one statement either succeeds or leaves the ledger exactly as it was, and
    /// units are conserved: balances + stakes + deposits always equal the genesis supply.
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
            let supply: u128 = l.accounts().map(|(_, s)| u128::from(s.balance)).sum::<u128>()
                + l.bonded_nodes().map(|b| u128::from(b.stake)).sum::<u128>()
                + l.deposits.values().map(|d| u128::from(d.amount)).sum::<u128>();
            prop_assert_eq!(supply, 3000);
        }
    }
}
