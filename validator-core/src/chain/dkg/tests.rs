#![allow(clippy::unwrap_used)]
//! The key generation driven through real blocks of a [`ChainState`].

use super::*;
use crate::chain::{Block, ChainError, ChainState, Transaction};
use crate::coconut::{KeyPair, VerificationKey};
use crate::genesis::{DkgSchedule, Genesis};
use crate::test_util::{genesis, next_block, signing_key, validator_key, FakeSpends};

/// A chain of `n` validators with threshold `t` and the validators' participants.
struct Net {
    genesis: Genesis,
    state: ChainState,
    parts: Vec<Participant>,
    time_ms: u64,
}

impl Net {
    fn new(n: u32, t: u32, schedule: DkgSchedule) -> Self {
        let mut genesis = genesis(1, 1_000, n, t);
        genesis.dkg = schedule;
        let state = ChainState::genesis(&genesis).unwrap();
        let time_ms = genesis.genesis_time_unix_ms;
        Self {
            parts: (0..n).map(|i| Participant::new(validator_key(i))).collect(),
            genesis,
            state,
            time_ms,
        }
    }

    fn run(&self) -> &KeyEpoch {
        let runs = self.state.key_epochs();
        runs.running().or_else(|| runs.runs().next_back()).unwrap()
    }

    /// The messages validator `i` owes now.
    fn owed(&self, i: usize) -> Option<DkgMessage> {
        self.parts[i]
            .message(
                &self.genesis,
                &self.genesis.genesis_hash(),
                self.run(),
                &mut rand::rng(),
            )
            .unwrap()
    }

    fn block(&mut self, txs: Vec<Transaction>) -> Result<(), ChainError> {
        self.time_ms += 1_000;
        let block: Block = next_block(&self.state, self.time_ms, txs);
        self.state = self.state.validate_block(&block, &FakeSpends)?;
        Ok(())
    }

    /// One block with what every validator in `senders` owes, after `edit`.
    fn step(&mut self, senders: &[usize], edit: &dyn Fn(usize, DkgMessage) -> Option<DkgMessage>) {
        let txs = senders
            .iter()
            .filter_map(|&i| self.owed(i).and_then(|m| edit(i, m)))
            .map(|m| Transaction::Dkg(Box::new(m)))
            .collect();
        self.block(txs).unwrap();
    }

    /// Steps with everyone honest until the running run ends (bounded).
    fn finish(
        &mut self,
        senders: &[usize],
        edit: &dyn Fn(usize, DkgMessage) -> Option<DkgMessage>,
    ) {
        for _ in 0..100 {
            if self.state.key_epochs().running().is_none() {
                return;
            }
            self.step(senders, edit);
        }
        panic!("the run did not end in 100 blocks: {:?}", self.run().phase);
    }

    fn key_pair(&self, i: usize) -> KeyPair {
        self.parts[i]
            .key_pair(&self.genesis, &self.genesis.genesis_hash(), self.run())
            .unwrap()
    }
}

fn honest(_: usize, m: DkgMessage) -> Option<DkgMessage> {
    Some(m)
}

fn all(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// Issues a credential with the key pairs `signers` and verifies it under `aggregate`.
fn credential_verifies(signers: &[&KeyPair], aggregate: &VerificationKey) -> bool {
    let keys: Vec<KeyPair> = signers.iter().map(|k| (*k).clone()).collect();
    let all: Vec<usize> = (0..keys.len()).collect();
    crate::coconut::dkg::tests::issue_and_verify(&keys, &all, aggregate, 7).is_ok()
}

#[test]
fn four_validators_complete_a_run_and_three_shares_issue_under_the_chain_key() {
    let mut net = Net::new(4, 3, DkgSchedule::default());
    let mut phases = vec![net.run().phase];
    net.finish(&all(4), &honest);
    // Every phase ended early: everyone sent, one block per phase, no reconstruction.
    phases.push(net.run().phase);
    assert_eq!(phases, vec![Phase::Registration, Phase::Complete]);
    assert_eq!(net.state.height(), 5, "one block per phase");
    let (run, keys) = net.state.key_epochs().current().unwrap();
    assert_eq!(run.id, KeyEpochId(0));
    assert!(keys.excluded.is_empty(), "{:?}", keys.excluded);
    keys.key_set.validate().unwrap();
    assert_eq!(keys.key_set.threshold, 3);

    let pairs: Vec<KeyPair> = (0..4).map(|i| net.key_pair(i)).collect();
    for (i, pair) in pairs.iter().enumerate() {
        assert_eq!(pair.index(), i as u64 + 1);
        assert_eq!(
            Some(pair.verification_key()),
            keys.key_set.authority(pair.index()),
            "validator {i}'s derived key is the chain's partial key"
        );
    }
    let aggregate = &keys.key_set.aggregate;
    assert!(credential_verifies(
        &[&pairs[0], &pairs[1], &pairs[2]],
        aggregate
    ));
    assert!(credential_verifies(
        &[&pairs[3], &pairs[1], &pairs[0]],
        aggregate
    ));
    assert!(!credential_verifies(&[&pairs[0], &pairs[1]], aggregate));
}

#[test]
fn the_run_survives_a_snapshot_in_every_phase() {
    let mut net = Net::new(4, 3, DkgSchedule::default());
    while net.state.key_epochs().running().is_some() {
        let snapshot = crate::chain::StateSnapshot::decode(&net.state.snapshot().encode()).unwrap();
        let restored =
            ChainState::from_snapshot(std::sync::Arc::clone(net.state.params()), snapshot).unwrap();
        assert_eq!(restored.state_hash(), net.state.state_hash());
        assert_eq!(restored.key_epochs(), net.state.key_epochs());
        net.step(&all(4), &honest);
    }
}

/// Validator 1 (index 2) deals validator 2 (index 3) a share that fails its commitments.
fn bad_share_to_third(i: usize, m: DkgMessage) -> Option<DkgMessage> {
    match m.body {
        DkgBody::Dealing(mut d) if i == 1 => {
            d.ciphertexts[2][0] ^= 1;
            Some(DkgMessage::sign(
                &genesis_hash(),
                m.key_epoch,
                DkgBody::Dealing(d),
                &validator_key(1),
            ))
        }
        _ => Some(m),
    }
}

fn genesis_hash() -> crate::genesis::GenesisHash {
    let mut g = genesis(1, 1_000, 4, 3);
    g.dkg = DkgSchedule::default();
    g.genesis_hash()
}

#[test]
fn a_bad_share_is_complained_about_and_its_dealer_excluded_by_name() {
    let mut net = Net::new(4, 3, DkgSchedule::default());
    net.finish(&all(4), &bad_share_to_third);
    let run = net.run();
    assert_eq!(run.phase, Phase::Complete, "{:?}", run.failure);
    // The complaint is on the chain, from receiver 3 against dealer 2.
    let complaints = &run.complaints[&3];
    assert_eq!(complaints.len(), 1);
    assert_eq!(complaints[0].dealer(), 2);
    let keys = run.keys_out.as_ref().unwrap();
    assert_eq!(keys.excluded.len(), 1, "{:?}", keys.excluded);
    assert_eq!(
        keys.excluded[0].validator,
        IdentityKey::from(&validator_key(1))
    );
    assert!(keys.excluded[0]
        .reason
        .contains("complaint by participant 3"));
    assert_eq!(run.qualification.as_ref().unwrap().qualified, vec![1, 3, 4]);
    // Everyone (the excluded dealer too: it is still a receiver) derives a working share.
    let pairs: Vec<KeyPair> = (0..4).map(|i| net.key_pair(i)).collect();
    let aggregate = &keys.key_set.aggregate;
    assert!(credential_verifies(
        &[&pairs[1], &pairs[2], &pairs[3]],
        aggregate
    ));
}

#[test]
fn a_dealer_that_withholds_its_opening_is_reconstructed_to_the_same_key() {
    let schedule = DkgSchedule {
        phase_blocks: 3,
        ..DkgSchedule::default()
    };
    let mut honest_net = Net::new(4, 3, schedule);
    honest_net.finish(&all(4), &honest);
    let expected = honest_net
        .state
        .key_epochs()
        .current()
        .unwrap()
        .1
        .key_set
        .clone();

    let mut net = Net::new(4, 3, schedule);
    let withhold = |i: usize, m: DkgMessage| match m.body {
        DkgBody::Opening(_) if i == 3 => None,
        _ => Some(m),
    };
    let mut saw_reconstruction = false;
    for _ in 0..100 {
        if net.state.key_epochs().running().is_none() {
            break;
        }
        saw_reconstruction |= net.run().phase == Phase::Reconstruction;
        net.step(&all(4), &withhold);
    }
    assert!(saw_reconstruction);
    let run = net.run();
    assert_eq!(run.phase, Phase::Complete, "{:?}", run.failure);
    assert_eq!(run.reconstruct, vec![4]);
    assert_eq!(run.keys_out.as_ref().unwrap().key_set, expected);
    assert!(run.keys_out.as_ref().unwrap().excluded.is_empty());
}

#[test]
fn a_bad_opening_is_complained_about_and_reconstructed() {
    let mut net = Net::new(4, 3, DkgSchedule::default());
    // Validator 0 opens validator 1's polynomials' neighbour: its own opening with one
    // commitment replaced (the pairing check still passes because both groups change).
    let other = Participant::new(signing_key("not-a-validator", 1));
    let bad_opening = |i: usize, m: DkgMessage| match m.body {
        DkgBody::Opening(mut o) if i == 0 => {
            o.x[1] += bls12_381::G2Projective::generator();
            Some(DkgMessage::sign(
                &genesis_hash(),
                m.key_epoch,
                DkgBody::Opening(o),
                &validator_key(0),
            ))
        }
        _ => Some(m),
    };
    let _ = other;
    net.finish(&all(4), &bad_opening);
    let run = net.run();
    assert_eq!(run.phase, Phase::Complete, "{:?}", run.failure);
    assert_eq!(run.reconstruct, vec![1]);
    let pairs: Vec<KeyPair> = (0..4).map(|i| net.key_pair(i)).collect();
    let aggregate = &run.keys_out.as_ref().unwrap().key_set.aggregate;
    assert!(credential_verifies(
        &[&pairs[0], &pairs[2], &pairs[3]],
        aggregate
    ));
}

#[test]
fn refused_messages_name_their_reason_and_change_nothing() {
    let mut net = Net::new(4, 3, DkgSchedule::default());
    let g = net.genesis.genesis_hash();
    let refuse = |net: &mut Net, m: DkgMessage, kind: &str| {
        let before = net.state.state_hash();
        let err = net.block(vec![Transaction::Dkg(Box::new(m))]).unwrap_err();
        assert_eq!(err.root().kind(), kind, "{err}");
        assert_eq!(net.state.state_hash(), before);
        err.to_string()
    };
    // A non-validator.
    let stranger = Participant::new(signing_key("stranger", 9));
    let m = DkgMessage::sign(
        &g,
        KeyEpochId(0),
        DkgBody::Register(stranger.receiver_key(&g, net.run()).public()),
        &signing_key("stranger", 9),
    );
    refuse(&mut net, m, "not_a_validator");
    // A forged signature.
    let mut m = net.owed(0).unwrap();
    m.validator = IdentityKey::from(&validator_key(1));
    refuse(&mut net, m, "bad_dkg_signature");
    // A message of the wrong phase, and for a run that is not running.
    let reg = net.owed(0).unwrap();
    let mut wrong_run = reg.clone();
    wrong_run.key_epoch = KeyEpochId(5);
    let wrong_run = DkgMessage::sign(&g, KeyEpochId(5), wrong_run.body, &validator_key(0));
    assert!(refuse(&mut net, wrong_run, "dkg_refused").contains("not running"));
    let early = DkgMessage::sign(
        &g,
        KeyEpochId(0),
        DkgBody::Complaints(vec![]),
        &validator_key(0),
    );
    assert!(refuse(&mut net, early, "dkg_refused").contains("not taken"));
    // A key another validator registered, and a second registration.
    net.block(vec![Transaction::Dkg(Box::new(reg.clone()))])
        .unwrap();
    let DkgBody::Register(key) = reg.body.clone() else {
        unreachable!()
    };
    let copy = DkgMessage::sign(&g, KeyEpochId(0), DkgBody::Register(key), &validator_key(1));
    assert!(refuse(&mut net, copy, "dkg_refused").contains("already"));
    assert!(refuse(&mut net, reg, "dkg_refused").contains("already sent"));
    // The others register; in the dealing phase, a dealing naming another dealer.
    net.step(&[1, 2, 3], &honest);
    assert_eq!(net.run().phase, Phase::Dealing);
    let theirs = net.owed(1).unwrap();
    let stolen = DkgMessage::sign(&g, KeyEpochId(0), theirs.body, &validator_key(0));
    assert!(refuse(&mut net, stolen, "dkg_refused").contains("names dealer 2"));
    // In the complaint phase: a complaint with another receiver's key is refused.
    net.step(&all(4), &honest);
    assert_eq!(net.run().phase, Phase::Complaints);
    let params = net.run().params(&net.genesis, &g).unwrap();
    let dealing = net.run().dealings[&2].clone();
    let sk = net.parts[0].receiver_key(&g, net.run());
    let forged =
        crate::coconut::dkg::disclose(&params, &dealing, 1, &sk, &mut rand::rng()).unwrap();
    // Validator 1 (index 2) presents validator 0's disclosure as its own.
    let m = DkgMessage::sign(
        &g,
        KeyEpochId(0),
        DkgBody::Complaints(vec![forged]),
        &validator_key(1),
    );
    assert!(refuse(&mut net, m, "dkg_refused").contains("receiver 1"));
}

#[test]
fn registration_waits_for_a_threshold_of_validators() {
    let schedule = DkgSchedule {
        phase_blocks: 2,
        ..DkgSchedule::default()
    };
    let mut net = Net::new(4, 3, schedule);
    for _ in 0..5 {
        net.step(&[0, 1], &honest);
    }
    assert_eq!(net.run().phase, Phase::Registration, "2 of 4 with t = 3");
    net.step(&[2], &honest);
    // Past the deadline with 3 registered: validator 3 is left out of the run.
    assert_eq!(net.run().phase, Phase::Dealing);
    assert_eq!(net.run().participants.len(), 3);
    net.finish(&[0, 1, 2], &honest);
    let keys = net.state.key_epochs().current().unwrap().1.clone();
    assert_eq!(keys.key_set.authorities.len(), 3);
    assert_eq!(keys.excluded.len(), 1);
    assert_eq!(keys.excluded[0].reason, "did not register");
}

#[test]
fn too_few_qualified_dealers_fail_the_run_and_the_next_one_starts() {
    let schedule = DkgSchedule {
        phase_blocks: 2,
        ..DkgSchedule::default()
    };
    let mut net = Net::new(4, 3, schedule);
    let silent_dealers = |i: usize, m: DkgMessage| match m.body {
        DkgBody::Dealing(_) if i >= 2 => None,
        _ => Some(m),
    };
    for _ in 0..20 {
        if net.state.key_epochs().get(KeyEpochId(1)).is_some() {
            break;
        }
        net.step(&all(4), &silent_dealers);
    }
    let failed = net.state.key_epochs().get(KeyEpochId(0)).unwrap();
    assert_eq!(failed.phase, Phase::Failed);
    assert!(failed
        .failure
        .as_ref()
        .unwrap()
        .contains("2 dealers qualified"));
    assert_eq!(net.run().id, KeyEpochId(1));
    // Runs that keep failing keep the state bounded: only the newest few are kept.
    for _ in 0..200 {
        if net.run().id.0 >= 8 {
            break;
        }
        net.step(&all(4), &silent_dealers);
    }
    assert!(net.run().id.0 >= 8, "runs restart after each failure");
    assert!(net.state.key_epochs().runs().count() <= KEPT_FAILED_RUNS + 1);
    assert!(net.state.key_epochs().get(KeyEpochId(0)).is_none());
    net.finish(&all(4), &honest);
    let done = net.state.key_epochs().current().unwrap().0.id;
    assert!(done.0 >= 8);
    // Once a run completes, the failed ones before it are forgotten.
    assert_eq!(net.state.key_epochs().runs().count(), 1);
}

#[test]
fn a_new_key_epoch_retires_the_old_keys_after_the_grace_period() {
    let schedule = DkgSchedule {
        phase_blocks: 3,
        key_epoch_blocks: 4,
        grace_blocks: 3,
    };
    let mut net = Net::new(4, 3, schedule);
    net.finish(&all(4), &honest);
    let first_done = net.state.height();
    let first = net.state.key_epochs().current().unwrap().1.key_set.clone();
    // The next run starts key_epoch_blocks after the first completed.
    while net.state.key_epochs().get(KeyEpochId(1)).is_none() {
        net.step(&[], &honest);
    }
    assert_eq!(net.state.height(), first_done + 4);
    net.finish(&all(4), &honest);
    let second_done = net.state.height();
    let runs = net.state.key_epochs();
    let (current, keys) = runs.current().unwrap();
    assert_eq!(current.id, KeyEpochId(1));
    assert_ne!(keys.key_set.aggregate, first.aggregate, "a fresh key");
    let old = runs.get(KeyEpochId(0)).unwrap().keys_out.as_ref().unwrap();
    assert_eq!(old.spendable_until, Some(second_done + 3));
    assert!(runs.spendable(KeyEpochId(0), second_done + 3).is_ok());
    assert!(runs
        .spendable(KeyEpochId(0), second_done + 4)
        .unwrap_err()
        .contains("spendable until"));
    assert!(runs.spendable(KeyEpochId(1), u64::MAX).is_ok());
    // The chain's rule: a spend of a key-epoch-0 credential is decided up to the deadline
    // and refused after it.
    let spend = |serial: u64| {
        let mut body = crate::test_util::fake_spend(serial, 0, 1);
        body.key_epoch = KeyEpochId(0);
        Transaction::Spend(Box::new(body))
    };
    net.block(vec![spend(1)]).unwrap();
    while net.state.height() < second_done + 3 {
        net.step(&[], &honest);
    }
    let late = net.block(vec![spend(2)]).unwrap_err();
    assert_eq!(late.root().kind(), "key_epoch_not_spendable", "{late}");
    // Past the deadline the old run is forgotten.
    for _ in 0..4 {
        net.step(&[], &honest);
    }
    assert!(net.state.key_epochs().get(KeyEpochId(0)).is_none());
}
