use super::*;
use crate::coconut::aggregate_verification_keys;

fn check_honest(t: u64, n: u64, tag: u8) {
    let s = setup(t, n, tag);
    let run = honest_run(&s);
    let all: Vec<SignerIndex> = (1..=n).collect();
    assert_eq!(run.outcome.qualified(), &all[..]);
    assert!(run.outcome.excluded().is_empty());
    assert!(run.transcript.needs_reconstruction().is_empty());

    let aggregate = run.outcome.aggregate_verification_key();
    assert_eq!(aggregate.alpha(), &expected_alpha(&s, &all));
    assert_eq!(aggregate.num_attributes(), NUM_ATTRIBUTES);
    let set = run.outcome.verification_key_set().unwrap();
    set.validate().unwrap();
    assert_eq!(set.aggregate, aggregate);

    let t = t as usize;
    let n = n as usize;
    for (p, key) in run.keys.iter().enumerate() {
        assert_eq!(key.index(), p as u64 + 1);
        assert_eq!(set.authority(key.index()), Some(key.verification_key()));
    }
    // Any t derived partial keys aggregate to the outcome's key; t - 1 do not.
    let subsets: [Vec<usize>; 3] = [
        (0..t).collect(),
        (n - t..n).collect(),
        (0..n).rev().step_by(1).take(t).collect(),
    ];
    for which in &subsets {
        assert_eq!(
            aggregate_verification_keys(&vk_pairs(&run.keys, which)).unwrap(),
            aggregate,
            "{which:?}"
        );
    }
    if t > 1 {
        let weak = aggregate_verification_keys(&vk_pairs(&run.keys, &subsets[0][1..])).unwrap();
        assert_ne!(weak, aggregate);
    }

    // A credential from t derived keys verifies under the DKG key; one from t - 1 does not.
    issue_and_verify(&run.keys, &subsets[1], &aggregate, 1).unwrap();
    if t > 1 {
        assert!(issue_and_verify(&run.keys, &subsets[1][1..], &aggregate, 2).is_err());
    }

    // The free functions give the same outcome as the transcript.
    let complaints: Vec<Disclosure> = Vec::new();
    let qualification = qualify(&s.params, run.transcript.dealings(), &complaints).unwrap();
    assert_eq!(Some(&qualification), run.transcript.qualification());
    let outcome = compute_outcome(&s.params, &qualification, run.transcript.openings()).unwrap();
    assert_eq!(outcome, run.outcome);
}

#[test]
fn honest_run_3_of_4() {
    check_honest(3, 4, 1);
}

#[test]
fn honest_run_5_of_7() {
    check_honest(5, 7, 2);
}

#[test]
fn single_participant() {
    check_honest(1, 1, 3);
}

#[test]
fn dealing_and_opening_are_deterministic_in_seed_and_context() {
    let s = setup(2, 3, 4);
    assert_eq!(deal(&s.params, 1, s.seed(1)), deal(&s.params, 1, s.seed(1)));
    assert_eq!(open(&s.params, 1, s.seed(1)), open(&s.params, 1, s.seed(1)));
    assert_ne!(deal(&s.params, 1, s.seed(1)), deal(&s.params, 1, s.seed(2)));
    // Another context (another run) gives other polynomials from the same seed.
    let other = DkgParams::new(2, s.params.receivers().to_vec(), [5; 32], NUM_ATTRIBUTES).unwrap();
    assert_ne!(open(&s.params, 1, s.seed(1)), open(&other, 1, s.seed(1)));
}

#[test]
fn transcript_survives_a_json_snapshot() {
    let s = setup(2, 3, 6);
    let mut transcript = DkgTranscript::new(s.params.clone());
    for dealing in honest_dealings(&s) {
        transcript.add_dealing(dealing).unwrap();
    }
    transcript.advance().unwrap();
    let json = serde_json::to_string(&transcript).unwrap();
    let mut restored: DkgTranscript = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, transcript);
    restored.advance().unwrap();
    for i in 1..=3 {
        restored
            .add_opening(open(&s.params, i, s.seed(i)).unwrap())
            .unwrap();
    }
    restored.advance().unwrap();
    let outcome = restored.finish().unwrap();
    assert_eq!(outcome, honest_run(&s).outcome);
}

#[test]
fn debug_does_not_leak_secrets() {
    let s = setup(2, 3, 7);
    let shown = format!("{:?}", s.sk(1));
    assert_eq!(shown, "DkgSecretKey(..)");
    let dealing = deal(&s.params, 1, s.seed(1)).unwrap();
    let shares = receive(&s.params, &dealing, 2, s.sk(2)).unwrap();
    let shown = format!("{shares:?}");
    assert!(!shown.contains("0x"), "{shown}");
    assert!(shown.contains("receiver: 2"), "{shown}");
}
