#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use validator_core::ledger::LedgerError;
use validator_core::statement::NodeRole;
use validator_core::test_util::{self, bond, deposit, validator_key};
use validator_core::topology::verify_signed_topology_for;

const T0: u64 = 1_000_000; // genesis time of test_util::genesis; epochs of 60 s

fn start(genesis: &Genesis, i: u32, now: u64) -> ValidatorState {
    ValidatorState::new(
        genesis.clone(),
        validator_key(i),
        PoolLimits::default(),
        None,
        now,
    )
    .unwrap()
    .0
}

fn validators(n: u32, threshold: u32, now: u64) -> (Genesis, Vec<ValidatorState>) {
    let genesis = test_util::genesis(3, 10_000, n, threshold);
    let states = (0..n).map(|i| start(&genesis, i, now)).collect();
    (genesis, states)
}

fn relays(out: Vec<Outbound>) -> Vec<RelayedStatement> {
    out.into_iter()
        .filter_map(|o| match o {
            Outbound::Statement(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn signatures(out: Vec<Outbound>) -> Vec<PeerTopologySignature> {
    out.into_iter()
        .filter_map(|o| match o {
            Outbound::Signature(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Ticks every validator to `now` and exchanges the signatures they produce.
fn tick_all(states: &mut [ValidatorState], now: u64) {
    let mut sigs = Vec::new();
    for s in states.iter_mut() {
        sigs.extend(signatures(s.tick(now).unwrap().1));
    }
    for sig in sigs {
        for s in states.iter_mut() {
            if s.identity() != sig.signature.validator {
                s.accept_topology_signature(sig.clone()).unwrap();
            }
        }
    }
}

#[test]
fn a_bond_submitted_to_one_validator_reaches_every_topology() {
    let now = T0 + 1_000;
    let (genesis, mut states) = validators(3, 2, now);
    let chain = genesis.genesis_hash();
    let mut out = Vec::new();
    for (n, seed) in (0..4u32).enumerate() {
        let role = if seed == 3 {
            NodeRole::Gateway
        } else {
            NodeRole::Mixnode
        };
        let st = bond(chain, 0, n as u64, seed, role, 500);
        out.extend(states[0].submit(st, now).unwrap().1);
    }
    for relay in relays(out) {
        for s in &mut states[1..] {
            s.accept_relay(relay.clone(), now).unwrap();
        }
    }
    // Before the cutoff of epoch 0 nothing is applied.
    tick_all(&mut states, T0 + 44_999);
    assert_eq!(states[1].bonded_nodes().len(), 0);
    tick_all(&mut states, T0 + 45_000);
    let hashes: Vec<_> = states.iter().map(|s| s.ledger().state_hash()).collect();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]));
    for s in &states {
        assert_eq!(s.bonded_nodes().len(), 4);
        let signed = s.signed_topology(EpochId(1)).unwrap();
        assert_eq!(
            signed.signatures.len(),
            3,
            "every validator's signature collected"
        );
        let topology = verify_signed_topology_for(&signed, &genesis).unwrap();
        assert_eq!((topology.mixnodes.len(), topology.gateways.len()), (3, 1));
        assert!(topology.is_routable());
    }
    // The epoch-0 topology (built at start) was empty; the epoch-1 topology is current only
    // once epoch 1 starts.
    assert!(states[0]
        .current_topology(T0 + 59_999)
        .unwrap()
        .topology
        .mixnodes
        .is_empty());
    assert_eq!(
        states[0]
            .current_topology(T0 + 60_000)
            .unwrap()
            .topology
            .epoch_id,
        EpochId(1)
    );
}

#[test]
fn bad_statements_are_refused_at_submission_with_the_reason() {
    let now = T0 + 1_000;
    let (genesis, mut states) = validators(1, 1, now);
    let chain = genesis.genesis_hash();
    let s = &mut states[0];
    // Account 0 has 10_000.
    let overspend = bond(chain, 0, 0, 1, NodeRole::Mixnode, 10_001);
    assert!(matches!(
        s.submit(overspend, now),
        Err(ServiceError::Statement(
            LedgerError::InsufficientBalance { .. }
        ))
    ));
    s.submit(bond(chain, 0, 0, 1, NodeRole::Mixnode, 6_000), now)
        .unwrap();
    // Pending debits count: 6_000 + 5_000 > 10_000.
    assert!(matches!(
        s.submit(deposit(chain, 0, 1, 5_000, 7), now),
        Err(ServiceError::Statement(
            LedgerError::InsufficientBalance { .. }
        ))
    ));
    // A different statement with a pending nonce.
    assert!(matches!(
        s.submit(deposit(chain, 0, 0, 10, 7), now),
        Err(ServiceError::Statement(LedgerError::NonceReused { .. }))
    ));
    // A nonce gap.
    assert!(matches!(
        s.submit(deposit(chain, 0, 5, 10, 7), now),
        Err(ServiceError::Statement(LedgerError::NonceGap { .. }))
    ));
    // A tampered signature.
    let mut forged = deposit(chain, 0, 1, 10, 7);
    forged.statement.nonce = 2;
    assert!(matches!(
        s.submit(forged, now),
        Err(ServiceError::Statement(LedgerError::Statement(_)))
    ));
    // Resubmitting an accepted statement is idempotent.
    let again = s
        .submit(bond(chain, 0, 0, 1, NodeRole::Mixnode, 6_000), now)
        .unwrap();
    assert!(again.1.is_empty(), "not relayed twice");
    let view = s
        .account_view(&test_util::identity(&test_util::account_key(0)))
        .unwrap();
    assert_eq!((view.next_nonce, view.next_free_nonce), (0, 1));
}

#[test]
fn statements_near_a_cutoff_join_the_next_batch() {
    let (genesis, mut states) = validators(1, 1, T0);
    let chain = genesis.genesis_hash();
    let s = &mut states[0];
    let cutoff = s.schedule().cutoff(EpochId(0));
    let grace = s.schedule().grace_ms();
    let early = s
        .submit(
            bond(chain, 0, 0, 1, NodeRole::Mixnode, 200),
            cutoff - grace - 1,
        )
        .unwrap()
        .0;
    let late = s
        .submit(bond(chain, 1, 0, 2, NodeRole::Mixnode, 200), cutoff - grace)
        .unwrap()
        .0;
    assert_eq!(early.applies_at_end_of, EpochId(0));
    assert_eq!(late.applies_at_end_of, EpochId(1));
    s.tick(cutoff).unwrap();
    assert_eq!(s.bonded_nodes().len(), 1);
    s.tick(s.schedule().cutoff(EpochId(1))).unwrap();
    assert_eq!(s.bonded_nodes().len(), 2);
}

#[test]
fn relays_are_authenticated_and_bounded_in_time() {
    let now = T0 + 1_000;
    let (genesis, mut states) = validators(2, 1, now);
    let chain = genesis.genesis_hash();
    let st = bond(chain, 0, 0, 1, NodeRole::Mixnode, 200);

    // Not a validator.
    let outsider = RelayedStatement::sign(st.clone(), EpochId(0), &chain, &validator_key(9));
    assert!(matches!(
        states[1].accept_relay(outsider, now),
        Err(ServiceError::NotAPeer(_))
    ));
    // Its own relay coming back.
    let own = RelayedStatement::sign(st.clone(), EpochId(0), &chain, &validator_key(1));
    assert!(matches!(
        states[1].accept_relay(own, now),
        Err(ServiceError::NotAPeer(_))
    ));
    // Epoch changed after signing.
    let mut moved = RelayedStatement::sign(st.clone(), EpochId(0), &chain, &validator_key(0));
    moved.epoch = EpochId(1);
    assert!(matches!(
        states[1].accept_relay(moved, now),
        Err(ServiceError::BadPeerSignature(_))
    ));
    // Far in the future.
    let future = RelayedStatement::sign(st.clone(), EpochId(50), &chain, &validator_key(0));
    assert!(matches!(
        states[1].accept_relay(future, now),
        Err(ServiceError::RelayTooEarly { .. })
    ));
    // After its epoch's cutoff.
    let cutoff = states[1].schedule().cutoff(EpochId(0));
    states[1].tick(cutoff).unwrap();
    let late = RelayedStatement::sign(st, EpochId(0), &chain, &validator_key(0));
    assert!(matches!(
        states[1].accept_relay(late, cutoff),
        Err(ServiceError::RelayTooLate { .. })
    ));
    assert_eq!(
        ServiceError::RelayTooLate {
            epoch: EpochId(0),
            applied_through: EpochId(0)
        }
        .status(),
        409
    );
}

#[test]
fn a_peer_signing_other_bytes_is_reported_and_not_counted() {
    let now = T0 + 1_000;
    let (genesis, mut states) = validators(3, 2, now);
    let chain = genesis.genesis_hash();
    // Only validator 0 sees the bond, so the two build different epoch-1 topologies.
    states[0]
        .submit(bond(chain, 0, 0, 1, NodeRole::Mixnode, 200), now)
        .unwrap();
    let cutoff = states[0].schedule().cutoff(EpochId(0));
    let sig0 = signatures(states[0].tick(cutoff).unwrap().1).remove(0);
    let sig1 = signatures(states[1].tick(cutoff).unwrap().1).remove(0);
    assert!(matches!(
        states[1].accept_topology_signature(sig0),
        Err(ServiceError::TopologyMismatch { .. })
    ));
    // Validator 1's signature passed off as validator 2's, for validator 2's topology (which
    // has the same bytes as validator 1's): the hash matches, the signature does not.
    states[2].tick(cutoff).unwrap();
    let mut stolen = sig1.clone();
    stolen.signature.validator = states[0].identity();
    assert!(matches!(
        states[2].accept_topology_signature(stolen),
        Err(ServiceError::BadPeerSignature(_))
    ));
    let signed = states[1].signed_topology(EpochId(1)).unwrap();
    assert_eq!(signed.signatures.len(), 1);
    assert!(verify_signed_topology_for(&signed, &genesis).is_err());
}

#[test]
fn signatures_that_arrive_before_the_topology_are_kept() {
    let now = T0 + 1_000;
    let (_, mut states) = validators(2, 2, now);
    let cutoff = states[0].schedule().cutoff(EpochId(0));
    let early = signatures(states[0].tick(cutoff).unwrap().1).remove(0);
    states[1].accept_topology_signature(early).unwrap();
    states[1].tick(cutoff).unwrap();
    assert_eq!(
        states[1]
            .signed_topology(EpochId(1))
            .unwrap()
            .signatures
            .len(),
        2
    );
}

#[test]
fn a_spent_tag_is_refused_the_second_time() {
    let (_, mut states) = validators(1, 1, T0);
    let zeta = [3u8; ZETA_BYTES];
    assert!(!states[0].is_spent(&zeta));
    states[0].mark_spent(zeta).unwrap();
    assert!(states[0].is_spent(&zeta));
    assert!(matches!(
        states[0].mark_spent(zeta),
        Err(ServiceError::AlreadySpent(_))
    ));
}

#[test]
fn validators_started_in_different_epochs_agree_before_anything_is_bonded() {
    let (genesis, _) = validators(2, 2, T0);
    let mut a = start(&genesis, 0, T0 + 1_000);
    let mut b = start(&genesis, 1, T0 + 3 * 60_000 + 5);
    let chain = genesis.genesis_hash();
    let now = T0 + 3 * 60_000 + 10;
    a.tick(now).unwrap();
    let relay = relays(
        a.submit(bond(chain, 0, 0, 1, NodeRole::Mixnode, 200), now)
            .unwrap()
            .1,
    )
    .remove(0);
    b.accept_relay(relay, now).unwrap();
    let cutoff = a.schedule().cutoff(EpochId(3));
    a.tick(cutoff).unwrap();
    b.tick(cutoff).unwrap();
    assert_eq!(
        a.signed_topology(EpochId(4)).unwrap().topology,
        b.signed_topology(EpochId(4)).unwrap().topology
    );
    assert_eq!(a.ledger().state_hash(), b.ledger().state_hash());
}
