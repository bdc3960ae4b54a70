use super::*;
use crate::chain::ChainState;
use crate::genesis::Genesis;
use crate::statement::{NodeRole, StatementBody, StatementError};
use crate::test_util::{
    bond, deposit, fake_spend, forged_spend, genesis, identity, validator_key, FakeSpends,
};

fn setup() -> (Genesis, ChainState) {
    let g = genesis(2, 1000, 3, 2);
    let state = ChainState::genesis(&g).unwrap();
    (g, state)
}

fn epoch0_vote(g: &Genesis, validator: u32) -> TopologyVote {
    let state = ChainState::genesis(g).unwrap();
    let record = state.topology_record(EpochId(0)).unwrap();
    TopologyVote::sign(
        &record.topology,
        &g.genesis_hash(),
        &validator_key(validator),
    )
}

fn corrupt_signature(s: &SignedStatement) -> SignedStatement {
    let mut bytes = s.signature.to_bytes();
    bytes[5] ^= 1;
    SignedStatement {
        statement: s.statement.clone(),
        signature: ed25519_dalek::Signature::from_bytes(&bytes),
    }
}

#[test]
fn ids_separate_copies_presentations_and_votes() {
    let (g, _) = setup();
    let h = g.genesis_hash();
    let s = deposit(h, 0, 0, 10, 1);
    let tx = Transaction::Statement(s.clone());
    assert_eq!(tx.id(), Transaction::Statement(s.clone()).id());
    // Same statement, other signature bytes: another id (the statement id is the same).
    let corrupted = corrupt_signature(&s);
    assert_eq!(corrupted.id(), s.id());
    assert_ne!(Transaction::Statement(corrupted).id(), tx.id());
    assert_ne!(
        Transaction::Statement(deposit(h, 0, 0, 10, 2)).id(),
        tx.id()
    );

    // Two presentations of one credential: two ids, one tag.
    let a = Transaction::Spend(Box::new(fake_spend(1, 0, 1)));
    let b = Transaction::Spend(Box::new(fake_spend(1, 0, 2)));
    let other = Transaction::Spend(Box::new(fake_spend(2, 0, 1)));
    assert_ne!(a.id(), b.id());
    assert_eq!(a.spend_tag(), b.spend_tag());
    assert!(a.spend_tag().is_some());
    assert_ne!(a.spend_tag(), other.spend_tag());
    assert_eq!(tx.spend_tag(), None);

    // A vote's id is (epoch, validator), whatever it signs.
    let v = epoch0_vote(&g, 0);
    let mut other_hash = v.clone();
    other_hash.topology_hash = TopologyHash([9; 32]);
    let mut other_epoch = v.clone();
    other_epoch.epoch = EpochId(1);
    let id = |v: &TopologyVote| Transaction::TopologySignature(v.clone()).id();
    assert_eq!(id(&v), id(&other_hash));
    assert_ne!(id(&v), id(&other_epoch));
    assert_ne!(id(&v), id(&epoch0_vote(&g, 1)));
}

#[test]
fn wire_form_is_tagged_snake_case_and_strict() {
    let (g, _) = setup();
    let h = g.genesis_hash();
    let txs = [
        (
            Transaction::Statement(deposit(h, 0, 0, 10, 1)),
            r#"{"statement":{"#,
        ),
        (
            Transaction::Spend(Box::new(fake_spend(1, 0, 1))),
            r#"{"spend":{"#,
        ),
        (
            Transaction::TopologySignature(epoch0_vote(&g, 0)),
            r#"{"topology_signature":{"#,
        ),
    ];
    for (tx, prefix) in &txs {
        let json = String::from_utf8(tx.encode()).unwrap();
        assert!(json.starts_with(prefix), "{json}");
        assert_eq!(json.len(), tx.encoded_len());
        assert_eq!(serde_json::from_str::<Transaction>(&json).unwrap(), *tx);
        // An unknown field inside is refused.
        let padded = json.replacen(prefix, &format!("{prefix}\"extra\":1,"), 1);
        assert!(
            serde_json::from_str::<Transaction>(&padded).is_err(),
            "{padded}"
        );
    }
    assert!(serde_json::from_str::<Transaction>(r#"{"mint":{}}"#).is_err());
}

#[test]
fn verified_transactions_carry_id_tag_and_length() {
    let (g, state) = setup();
    let h = g.genesis_hash();
    let txs = [
        Transaction::Statement(bond(h, 0, 0, 1, NodeRole::Mixnode, 100)),
        Transaction::Spend(Box::new(fake_spend(4, 0, 1))),
        Transaction::TopologySignature(epoch0_vote(&g, 2)),
    ];
    for tx in txs {
        let v = VerifiedTx::verify(tx.clone(), &state, &FakeSpends).unwrap();
        assert_eq!(v.id(), tx.id());
        assert_eq!(v.encoded_len(), serde_json::to_vec(&tx).unwrap().len());
        assert_eq!(v.spend_tag().copied(), tx.spend_tag());
        assert_eq!(v.tx(), &tx);
        assert_eq!(v.into_tx(), tx);
    }
}

/// A verifier that accepts everything but reports a tag of its own.
struct WrongTag;
impl SpendVerifier for WrongTag {
    fn verify_spend(
        &self,
        _: &SpendBody,
        _: Option<&crate::credential::VerificationKeySet>,
    ) -> Result<[u8; ZETA_BYTES], String> {
        Ok([1; ZETA_BYTES])
    }
}

#[test]
fn verify_refuses_what_its_crypto_refuses() {
    let (g, state) = setup();
    let h = g.genesis_hash();
    let verify = |tx: Transaction| VerifiedTx::verify(tx, &state, &FakeSpends).unwrap_err();

    let other_chain = genesis(2, 1000, 2, 2).genesis_hash();
    assert!(matches!(
        verify(Transaction::Statement(deposit(other_chain, 0, 0, 10, 1))),
        ChainError::WrongChain { expected, got } if expected == h && got == other_chain
    ));
    assert_eq!(
        verify(Transaction::Statement(corrupt_signature(&deposit(
            h, 0, 0, 10, 1
        )))),
        ChainError::BadStatement(StatementError::BadSignature {
            account: identity(&crate::test_util::account_key(0))
        })
    );
    // A bond whose node consent was made for another account.
    let mut b = bond(h, 0, 0, 1, NodeRole::Mixnode, 100);
    let StatementBody::Bond { node_signature, .. } = &mut b.statement.body else {
        unreachable!()
    };
    *node_signature = ed25519_dalek::Signature::from_bytes(&[0; 64]);
    // Signed by the account all the same (`SignedStatement::sign` would refuse).
    use ed25519_dalek::Signer;
    b.signature = crate::test_util::account_key(0).sign(&b.statement.signing_bytes());
    assert!(matches!(
        verify(Transaction::Statement(b)),
        ChainError::BadStatement(StatementError::BadNodeSignature { .. })
    ));

    let forged = verify(Transaction::Spend(Box::new(forged_spend(1, 0, 1))));
    assert!(
        matches!(&forged, ChainError::BadSpend(reason) if reason.contains("forged")),
        "{forged}"
    );
    assert_eq!(forged.kind(), "invalid_spend");
    let wrong_tag = VerifiedTx::verify(
        Transaction::Spend(Box::new(fake_spend(1, 0, 1))),
        &state,
        &WrongTag,
    )
    .unwrap_err();
    assert!(
        matches!(wrong_tag, ChainError::BadSpend(r) if r.contains("not the presentation's zeta"))
    );

    // Votes: the signer must be a genesis validator (validator_key(3) is not, with 3).
    let outsider = epoch0_vote(&g, 3);
    assert_eq!(
        verify(Transaction::TopologySignature(outsider)),
        ChainError::NotAValidator(identity(&validator_key(3)))
    );
}

#[test]
fn error_kinds_are_stable() {
    let (g, _) = setup();
    let cases = [
        (
            ChainError::BadHeight {
                expected: 2,
                got: 3,
            },
            "bad_height",
        ),
        (ChainError::DoubleSpend { zeta: "x".into() }, "double_spend"),
        (
            ChainError::from(crate::ledger::LedgerError::NonceGap { nonce: 3, next: 1 }),
            "statement_refused",
        ),
        (
            ChainError::from(crate::ledger::LedgerError::WrongChain {
                expected: g.genesis_hash(),
                got: g.genesis_hash(),
            }),
            "wrong_chain",
        ),
        (
            ChainError::MempoolFull {
                limit: 1,
                what: "bytes",
            },
            "mempool_full",
        ),
    ];
    for (e, kind) in cases {
        assert_eq!(e.kind(), kind, "{e}");
    }
    let wrapped = ChainError::InvalidTransaction {
        index: 3,
        id: TxId([0; 32]),
        source: Box::new(ChainError::UnknownEpoch(EpochId(9))),
    };
    assert_eq!(wrapped.kind(), "invalid_transaction");
    assert_eq!(wrapped.root().kind(), "unknown_epoch");
    assert!(wrapped.to_string().contains("transaction 3"), "{wrapped}");
}
