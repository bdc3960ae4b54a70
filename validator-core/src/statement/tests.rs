use super::*;
use crate::test_util::{account_key, identity, node_key, noise_key, sphinx_key};

fn chain() -> GenesisHash {
    GenesisHash([7; 32])
}

fn gateway(seed: u32) -> NodeDescriptor {
    NodeDescriptor {
        identity_key: identity(&node_key(seed)),
        sphinx_key: sphinx_key(seed),
        role: NodeRole::Gateway,
        address: format!("10.0.0.{}:1789", seed % 250 + 1).parse().unwrap(),
        clients_address: Some(format!("wss://gw{seed}.example:9000")),
        noise_key: Some(noise_key(seed)),
    }
}

fn signed_bond() -> SignedStatement {
    let acct = account_key(0);
    let st = Statement::bond(chain(), identity(&acct), 0, gateway(1), 500, &node_key(1)).unwrap();
    SignedStatement::sign(st, &acct).unwrap()
}

#[test]
fn sign_verify_and_json_roundtrip() {
    let s = signed_bond();
    s.verify().unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: SignedStatement = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    back.verify().unwrap();
    assert_eq!(back.id(), s.id());

    let acct = account_key(3);
    let dep = Statement::deposit(
        chain(),
        identity(&acct),
        9,
        42,
        CredentialRequestDigest([1; 32]),
    );
    let dep = SignedStatement::sign(dep, &acct).unwrap();
    let back: SignedStatement =
        serde_json::from_str(&serde_json::to_string(&dep).unwrap()).unwrap();
    back.verify().unwrap();
}

#[test]
fn tampering_breaks_the_signature() {
    let s = signed_bond();
    let bad_sig = |t: SignedStatement| {
        assert_eq!(
            t.verify(),
            Err(StatementError::BadSignature {
                account: identity(&account_key(0))
            })
        );
    };
    let mut t = s.clone();
    t.statement.nonce = 1;
    bad_sig(t);
    let mut t = s.clone();
    t.statement.genesis_hash = GenesisHash([8; 32]);
    // The node's consent is bound to the chain too, so that fails first.
    assert!(matches!(
        t.verify(),
        Err(StatementError::BadNodeSignature { .. })
    ));
    let mut t = s.clone();
    if let StatementBody::Bond { amount, .. } = &mut t.statement.body {
        *amount += 1;
    }
    bad_sig(t);
    let mut t = s.clone();
    let mut bytes = t.signature.to_bytes();
    bytes[10] ^= 1;
    t.signature = Signature::from_bytes(&bytes);
    bad_sig(t);
    // Another account claiming the statement.
    let mut t = s.clone();
    t.statement.account = identity(&account_key(1));
    assert!(t.verify().is_err());
}

#[test]
fn changing_the_descriptor_breaks_the_node_consent() {
    let acct = account_key(0);
    let mut st =
        Statement::bond(chain(), identity(&acct), 0, gateway(1), 500, &node_key(1)).unwrap();
    if let StatementBody::Bond { node, .. } = &mut st.body {
        node.address = "10.9.9.9:1789".parse().unwrap();
    }
    // The account may sign whatever it likes, but the node did not consent to this address.
    assert_eq!(
        SignedStatement::sign(st, &acct),
        Err(StatementError::BadNodeSignature {
            identity: identity(&node_key(1))
        })
    );
}

#[test]
fn node_consent_is_bound_to_the_account() {
    let a = account_key(0);
    let b = account_key(1);
    let consent_for_a = gateway(1)
        .sign_bond_consent(&chain(), &identity(&a), &node_key(1))
        .unwrap();
    let stolen = Statement {
        genesis_hash: chain(),
        account: identity(&b),
        nonce: 0,
        body: StatementBody::Bond {
            node: gateway(1),
            amount: 5,
            node_signature: consent_for_a,
        },
    };
    assert!(matches!(
        SignedStatement::sign(stolen, &b),
        Err(StatementError::BadNodeSignature { .. })
    ));
}

#[test]
fn wrong_keys_are_refused_when_signing() {
    let st = Statement::unbond(
        chain(),
        identity(&account_key(0)),
        0,
        identity(&node_key(1)),
    );
    assert!(matches!(
        SignedStatement::sign(st, &account_key(1)),
        Err(StatementError::KeyMismatch {
            role: "account",
            ..
        })
    ));
    assert!(matches!(
        Statement::bond(
            chain(),
            identity(&account_key(0)),
            0,
            gateway(1),
            5,
            &node_key(2)
        ),
        Err(StatementError::KeyMismatch { role: "node", .. })
    ));
}

#[test]
fn descriptor_validation() {
    let mut n = gateway(1);
    n.address = "0.0.0.0:1789".parse().unwrap();
    assert!(matches!(
        n.validate(),
        Err(StatementError::InvalidAddress { .. })
    ));
    let mut n = gateway(1);
    n.address = "10.0.0.1:0".parse().unwrap();
    assert!(matches!(
        n.validate(),
        Err(StatementError::InvalidAddress { .. })
    ));
    let mut n = gateway(1);
    n.address = SocketAddr::V6(std::net::SocketAddrV6::new(
        "fe80::1".parse().unwrap(),
        1,
        0,
        3,
    ));
    assert!(matches!(
        n.validate(),
        Err(StatementError::InvalidAddress { .. })
    ));
    let mut n = gateway(1);
    n.role = NodeRole::Mixnode;
    assert_eq!(n.validate(), Err(StatementError::ClientsAddressOnMixnode));
    n.clients_address = None;
    assert_eq!(n.validate(), Ok(()));
    let mut n = gateway(1);
    n.clients_address = Some("http://gw.example".into());
    assert!(matches!(
        n.validate(),
        Err(StatementError::InvalidClientsAddress(_))
    ));
    n.clients_address = Some("ws://".into());
    assert!(matches!(
        n.validate(),
        Err(StatementError::InvalidClientsAddress(_))
    ));
    n.clients_address = None;
    assert_eq!(n.validate(), Ok(()));
    n.address = "[2001:db8::1]:1789".parse().unwrap();
    assert_eq!(n.validate(), Ok(()));
}

#[test]
fn zero_amounts_are_refused() {
    let acct = account_key(0);
    let st = Statement::deposit(
        chain(),
        identity(&acct),
        0,
        0,
        CredentialRequestDigest([0; 32]),
    );
    assert_eq!(
        SignedStatement::sign(st, &acct),
        Err(StatementError::ZeroAmount)
    );
    let st = Statement::bond(chain(), identity(&acct), 0, gateway(1), 0, &node_key(1)).unwrap();
    assert_eq!(
        SignedStatement::sign(st, &acct),
        Err(StatementError::ZeroAmount)
    );
}

#[test]
fn signing_bytes_layout() {
    let acct = identity(&account_key(0));
    let node = identity(&node_key(0));
    let st = Statement::unbond(chain(), acct, 0x0102, node);
    let bytes = st.signing_bytes();
    let mut expected = STATEMENT_DOMAIN.to_vec();
    expected.extend_from_slice(&[7; 32]);
    expected.extend_from_slice(acct.as_bytes());
    expected.extend_from_slice(&0x0102u64.to_be_bytes());
    expected.push(2);
    expected.extend_from_slice(node.as_bytes());
    assert_eq!(bytes, expected);
    assert_eq!(st.id().0, crate::primitives::sha256(&[expected.as_slice()]));

    // Each body variant and each field changes the id.
    let dep = |n, a, d| Statement::deposit(chain(), acct, n, a, CredentialRequestDigest(d));
    let ids = [
        dep(0, 1, [0; 32]).id(),
        dep(1, 1, [0; 32]).id(),
        dep(0, 2, [0; 32]).id(),
        dep(0, 1, [1; 32]).id(),
        st.id(),
    ];
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn json_rejects_bad_fields() {
    let s = signed_bond();
    let json = serde_json::to_value(&s).unwrap();
    let mut bad = json.clone();
    bad["statement"]["account"] = "notakey".into();
    assert!(serde_json::from_value::<SignedStatement>(bad).is_err());
    let mut bad = json.clone();
    bad["statement"]["body"]["bond"]["node"]["address"] = "example.com:80".into();
    assert!(serde_json::from_value::<SignedStatement>(bad).is_err());
    let mut bad = json.clone();
    bad["statement"]["extra"] = 1.into();
    assert!(serde_json::from_value::<SignedStatement>(bad).is_err());
    let mut bad = json;
    bad["signature"] = "abc".into();
    assert!(serde_json::from_value::<SignedStatement>(bad).is_err());
}
