use super::*;

const LIMITS: MailboxLimits = MailboxLimits {
    max_messages: 3,
    max_bytes: 100,
    max_total_bytes: 150,
    max_age_ms: 1000,
};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("g.redb"), LIMITS).unwrap()
}

fn incoming(client: ClientId, text: &str) -> Incoming {
    Incoming {
        client,
        kind: DeliveryKind::Message,
        bytes: text.as_bytes().to_vec(),
    }
}

#[test]
fn messages_survive_reopening_and_come_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = ([1; 32], [2; 32]);
    {
        let store = open(&dir);
        store
            .register(&alice, &SharedKey::from_bytes([7; 32]))
            .unwrap();
        store
            .register(&bob, &SharedKey::from_bytes([8; 32]))
            .unwrap();
        let outcomes = store
            .store(
                &[
                    incoming(alice, "a1"),
                    incoming(bob, "b1"),
                    incoming(alice, "a2"),
                ],
                10,
            )
            .unwrap();
        assert_eq!(
            outcomes,
            vec![
                StoreOutcome::Stored(0),
                StoreOutcome::Stored(0),
                StoreOutcome::Stored(1)
            ]
        );
    }
    let store = open(&dir);
    let got = store.pending(&alice, 0, 10).unwrap();
    assert_eq!(
        got.iter().map(|s| s.bytes.as_slice()).collect::<Vec<_>>(),
        vec![b"a1".as_slice(), b"a2"]
    );
    assert_eq!(store.pending_count(&alice).unwrap(), 2);
    assert_eq!(store.total_stored().unwrap(), 3);
    assert_eq!(
        store.client(&alice).unwrap().unwrap().shared.as_bytes(),
        &[7; 32]
    );
}

#[test]
fn a_client_removes_only_its_own_messages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (alice, bob) = ([1; 32], [2; 32]);
    store
        .register(&alice, &SharedKey::from_bytes([7; 32]))
        .unwrap();
    store
        .register(&bob, &SharedKey::from_bytes([8; 32]))
        .unwrap();
    store
        .store(&[incoming(alice, "a"), incoming(bob, "b")], 0)
        .unwrap();
    assert_eq!(
        store.remove(&bob, &[0, 1, 99]).unwrap(),
        1,
        "bob's id 0 only"
    );
    assert_eq!(
        store.pending(&alice, 0, 10).unwrap().len(),
        1,
        "alice's is untouched"
    );
    assert_eq!(store.pending_count(&bob).unwrap(), 0);
}

#[test]
fn quotas_unknown_recipients_and_age_limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let alice = [1; 32];
    store
        .register(&alice, &SharedKey::from_bytes([7; 32]))
        .unwrap();
    let outcomes = store
        .store(
            &[
                incoming(alice, "1"),
                incoming(alice, &"x".repeat(200)),
                incoming(alice, "2"),
                incoming(alice, "3"),
                incoming(alice, "4"),
                incoming([9; 32], "who"),
            ],
            0,
        )
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            StoreOutcome::Stored(0),
            StoreOutcome::QuotaExceeded,
            StoreOutcome::Stored(1),
            StoreOutcome::Stored(2),
            StoreOutcome::QuotaExceeded,
            StoreOutcome::UnknownClient,
        ]
    );
    store.store(&[], 5000).unwrap();
    store.remove(&alice, &[0]).unwrap();
    store.store(&[incoming(alice, "late")], 5000).unwrap();
    assert_eq!(store.purge_expired(5500).unwrap(), 2, "the two from t=0");
    let left = store.pending(&alice, 0, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].bytes, b"late");
}

#[test]
fn the_total_limit_holds_across_clients_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let clients: Vec<ClientId> = (1..=3).map(|i| [i; 32]).collect();
    {
        let store = open(&dir);
        for c in &clients {
            store.register(c, &SharedKey::from_bytes([7; 32])).unwrap();
        }
        let big = |c| incoming(c, &"x".repeat(60));
        let outcomes = store
            .store(&[big(clients[0]), big(clients[1]), big(clients[2])], 0)
            .unwrap();
        assert_eq!(
            outcomes,
            vec![
                StoreOutcome::Stored(0),
                StoreOutcome::Stored(0),
                StoreOutcome::QuotaExceeded
            ],
            "150 bytes for everyone"
        );
        assert_eq!(store.total_bytes(), 120);
    }
    let store = open(&dir);
    assert_eq!(store.total_bytes(), 120, "summed again at open");
    store.remove(&clients[0], &[0]).unwrap();
    assert_eq!(store.total_bytes(), 60);
    assert_eq!(
        store
            .store(&[incoming(clients[2], &"y".repeat(60))], 0)
            .unwrap(),
        vec![StoreOutcome::Stored(0)]
    );
}

#[test]
fn a_credential_is_redeemed_once_and_bandwidth_persists() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let alice = [1; 32];
    store
        .register(&alice, &SharedKey::from_bytes([7; 32]))
        .unwrap();
    assert!(store.redeem(b"zeta-1", &alice, 500, 0).unwrap());
    assert!(!store.redeem(b"zeta-1", &alice, 900, 0).unwrap(), "spent");
    assert!(store.is_spent(b"zeta-1").unwrap());
    assert_eq!(store.client(&alice).unwrap().unwrap().bandwidth, 500);
    store.save_bandwidth(&[(alice, 120)]).unwrap();
    assert_eq!(
        store
            .register(&alice, &SharedKey::from_bytes([6; 32]))
            .unwrap(),
        120,
        "re-registering keeps the bandwidth"
    );
}
