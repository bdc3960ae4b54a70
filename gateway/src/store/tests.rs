use super::*;

const LIMITS: MailboxLimits = MailboxLimits {
    max_messages: 3,
    max_bytes: 100,
    max_total_bytes: 150,
    max_age_ms: 1000,
    require_bandwidth: false,
};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("g.redb"), LIMITS).unwrap()
}

/// Registers `alice` (key 7…) and `bob` (key 8…).
fn register_both(store: &Store, alice: ClientId, bob: ClientId) {
    store
        .register(&alice, &SharedKey::from_bytes([7; 32]), 0)
        .unwrap();
    store
        .register(&bob, &SharedKey::from_bytes([8; 32]), 0)
        .unwrap();
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
        register_both(&store, alice, bob);
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
    register_both(&store, alice, bob);
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
        .register(&alice, &SharedKey::from_bytes([7; 32]), 0)
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
            store
                .register(c, &SharedKey::from_bytes([7; 32]), 0)
                .unwrap();
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
        .register(&alice, &SharedKey::from_bytes([7; 32]), 0)
        .unwrap();
    assert!(store.redeem(b"zeta-1", &alice, 500, 0).unwrap());
    assert!(!store.redeem(b"zeta-1", &alice, 900, 0).unwrap(), "spent");
    assert!(store.is_spent(b"zeta-1").unwrap());
    assert_eq!(store.client(&alice).unwrap().unwrap().bandwidth, 500);
    store.save_bandwidth(&[(alice, 120)]).unwrap();
    assert_eq!(
        store
            .register(&alice, &SharedKey::from_bytes([6; 32]), 0)
            .unwrap(),
        120,
        "re-registering keeps the bandwidth"
    );
}

#[test]
fn expiry_deletes_exactly_the_old_messages_through_the_time_index() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = ([1; 32], [2; 32]);
    {
        let store = open(&dir);
        register_both(&store, alice, bob);
        // Stored at 100, 999, 1000, 1001 and 5000; the limit is 1000 ms, the purge at 2000:
        // older than 1000 goes, 1000 itself stays.
        for (at, client, text) in [
            (100, alice, "a-100"),
            (999, bob, "b-999"),
            (1000, alice, "a-1000"),
            (1001, bob, "b-1001"),
        ] {
            store.store(&[incoming(client, text)], at).unwrap();
        }
        assert_eq!(store.indexed_by_time().unwrap(), 4);
        // A message confirmed before the purge leaves the index too.
        store.remove(&bob, &[0]).unwrap();
        assert_eq!(store.indexed_by_time().unwrap(), 3);
        store.store(&[incoming(bob, "b-1500")], 1500).unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.purge_expired(2000).unwrap(), 1, "a-100 only");
    let texts = |c| {
        store
            .pending(&c, 0, 10)
            .unwrap()
            .into_iter()
            .map(|s| String::from_utf8(s.bytes).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(alice), vec!["a-1000"]);
    assert_eq!(texts(bob), vec!["b-1001", "b-1500"]);
    assert_eq!(store.indexed_by_time().unwrap(), 3);
    assert_eq!(store.total_stored().unwrap(), 3);
    assert_eq!(store.total_bytes(), 6 + 6 + 6);
    assert_eq!(store.purge_expired(2001).unwrap(), 1, "a-1000");
    assert_eq!(store.purge_expired(10_000).unwrap(), 2, "the rest");
    assert_eq!(store.indexed_by_time().unwrap(), 0);
    assert_eq!(store.total_stored().unwrap(), 0);
}

#[test]
fn only_clients_with_bandwidth_get_mailbox_space() {
    let dir = tempfile::tempdir().unwrap();
    let limits = MailboxLimits {
        require_bandwidth: true,
        ..LIMITS
    };
    let store = Store::open(&dir.path().join("g.redb"), limits).unwrap();
    let (paying, free) = ([1; 32], [2; 32]);
    store
        .register(&paying, &SharedKey::from_bytes([7; 32]), 0)
        .unwrap();
    store
        .register(&free, &SharedKey::from_bytes([8; 32]), 0)
        .unwrap();
    assert!(store.redeem(b"zeta", &paying, 1000, 0).unwrap());
    let outcomes = store
        .store(&[incoming(paying, "p"), incoming(free, "f")], 0)
        .unwrap();
    assert_eq!(
        outcomes,
        vec![StoreOutcome::Stored(0), StoreOutcome::NoBandwidth]
    );
    assert_eq!(store.pending_count(&free).unwrap(), 0);
    assert_eq!(
        store.total_bytes(),
        1,
        "nothing of the free client's counts"
    );
}

#[test]
fn unused_registrations_expire_and_used_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let day = SEEN_GRANULARITY_MS;
    let key = || SharedKey::from_bytes([7; 32]);
    let (idle, paid, mail, online, returning) = ([1; 32], [2; 32], [3; 32], [4; 32], [5; 32]);
    for c in [&idle, &paid, &mail, &online, &returning] {
        store.register(c, &key(), 0).unwrap();
    }
    assert!(store.redeem(b"zeta", &paid, 1000, 0).unwrap());
    store.store(&[incoming(mail, "m")], 0).unwrap();
    // Seen again within a day: no write, the time stays 0; after a day: written.
    store.seen(&returning, day / 2).unwrap();
    store.seen(&returning, 20 * day).unwrap();
    let is_online = |c: &ClientId| *c == online;
    // 30 days unused, checked at day 29: nothing is old enough.
    assert_eq!(
        store.expire_unused(29 * day, 30 * day, is_online).unwrap(),
        0
    );
    assert_eq!(
        store.expire_unused(31 * day, 30 * day, is_online).unwrap(),
        1
    );
    assert!(
        store.client(&idle).unwrap().is_none(),
        "the unused one went"
    );
    for c in [&paid, &mail, &online, &returning] {
        assert!(
            store.client(c).unwrap().is_some(),
            "bandwidth, mail, online, seen stay"
        );
    }
    // The returning client goes 30 days after it was last seen; the others stay.
    assert_eq!(
        store.expire_unused(51 * day, 30 * day, is_online).unwrap(),
        1
    );
    assert!(store.client(&returning).unwrap().is_none());
    assert!(store.client(&mail).unwrap().is_some());
}

#[test]
fn a_nym_authentication_time_is_accepted_once_and_only_later_ones_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let alice = [1; 32];
    {
        let store = open(&dir);
        assert_eq!(store.nym_authenticate(&alice, 100, 5).unwrap(), Ok(()));
        assert_eq!(store.nym_authenticate(&alice, 100, 6).unwrap(), Err(100));
        assert_eq!(store.nym_authenticate(&alice, 99, 6).unwrap(), Err(100));
        assert_eq!(store.nym_authenticate(&[2; 32], 100, 6).unwrap(), Ok(()));
    }
    let store = open(&dir);
    assert_eq!(store.nym_authenticate(&alice, 100, 7).unwrap(), Err(100));
    assert_eq!(store.nym_authenticate(&alice, 101, 7).unwrap(), Ok(()));
}
