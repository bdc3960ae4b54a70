use super::*;
use bls12_381::G1Projective;

/// Dealer 2 encrypts a wrong share for receiver 3 (one ciphertext byte flipped).
fn tampered_dealings(s: &Setup) -> Vec<Dealing> {
    let mut dealings = honest_dealings(s);
    dealings[1].ciphertexts[2][5] ^= 0x40;
    dealings
}

#[test]
fn bad_share_is_complained_about_and_its_dealer_excluded() {
    let s = setup(3, 4, 10);
    let dealings = tampered_dealings(&s);
    let fault = receive(&s.params, &dealings[1], 3, s.sk(3)).unwrap_err();
    assert_eq!(
        fault,
        ShareFault::BadShares {
            dealer: 2,
            receiver: 3,
            secret: 0
        }
    );
    // The other receivers are fine with the same dealing.
    receive(&s.params, &dealings[1], 1, s.sk(1)).unwrap();

    let complaint = disclose(&s.params, &dealings[1], 3, s.sk(3), &mut rng(1)).unwrap();
    assert_eq!(
        verify_complaint(&s.params, &dealings[1], &complaint),
        Ok(ComplaintVerdict::Upheld)
    );
    let qualification = qualify(&s.params, &dealings, &[complaint]).unwrap();
    assert_eq!(qualification.qualified, vec![1, 3, 4]);
    assert_eq!(
        qualification.excluded,
        vec![Exclusion {
            dealer: 2,
            reason: ExclusionReason::ComplaintUpheld { by: 3 }
        }]
    );

    let run = run(&s, dealings, |i| {
        Some(open(&s.params, i, s.seed(i)).unwrap())
    });
    assert_eq!(run.outcome.qualified(), &[1, 3, 4]);
    assert_eq!(run.outcome.excluded(), &qualification.excluded[..]);
    let aggregate = run.outcome.aggregate_verification_key();
    assert_eq!(aggregate.alpha(), &expected_alpha(&s, &[1, 3, 4]));
    run.outcome.verification_key_set().unwrap();
    issue_and_verify(&run.keys, &[0, 2, 3], &aggregate, 3).unwrap();
}

#[test]
fn false_complaint_is_rejected_and_excludes_nobody() {
    let s = setup(3, 4, 11);
    let dealings = honest_dealings(&s);
    let complaint = disclose(&s.params, &dealings[1], 1, s.sk(1), &mut rng(2)).unwrap();
    assert_eq!(
        verify_complaint(&s.params, &dealings[1], &complaint),
        Ok(ComplaintVerdict::Rejected)
    );
    let qualification = qualify(&s.params, &dealings, std::slice::from_ref(&complaint)).unwrap();
    assert_eq!(qualification.qualified, vec![1, 2, 3, 4]);
    assert!(qualification.excluded.is_empty());

    let mut transcript = DkgTranscript::new(s.params.clone());
    for d in dealings {
        transcript.add_dealing(d).unwrap();
    }
    transcript.advance().unwrap();
    assert_eq!(
        transcript.add_complaint(complaint.clone()),
        Ok(ComplaintVerdict::Rejected)
    );
    assert_eq!(
        transcript.add_complaint(complaint),
        Err(DkgError::DuplicateDisclosure {
            dealer: 2,
            receiver: 1
        })
    );
    transcript.advance().unwrap();
    assert_eq!(
        transcript.qualification().unwrap().qualified,
        vec![1, 2, 3, 4]
    );
}

#[test]
fn forged_disclosures_are_refused() {
    let s = setup(3, 4, 12);
    let dealings = tampered_dealings(&s);
    let dealing = &dealings[1];
    let good = disclose(&s.params, dealing, 3, s.sk(3), &mut rng(3)).unwrap();
    let invalid = Err(DkgError::InvalidDisclosureProof {
        dealer: 2,
        receiver: 3,
    });

    let mut forged_proof = good.clone();
    forged_proof.proof.response += Scalar::one();
    assert_eq!(verify_complaint(&s.params, dealing, &forged_proof), invalid);

    let mut wrong_key = good.clone();
    wrong_key.key += G1Projective::generator();
    assert_eq!(verify_complaint(&s.params, dealing, &wrong_key), invalid);

    let mut wrong_receiver = good.clone();
    wrong_receiver.receiver = 1;
    assert_eq!(
        verify_complaint(&s.params, dealing, &wrong_receiver),
        Err(DkgError::InvalidDisclosureProof {
            dealer: 2,
            receiver: 1
        })
    );
    wrong_receiver.receiver = 5;
    assert_eq!(
        verify_complaint(&s.params, dealing, &wrong_receiver),
        Err(DkgError::ReceiverOutOfRange {
            receiver: 5,
            participants: 4
        })
    );

    // A disclosure for dealer 2 does not judge dealer 1's dealing.
    assert_eq!(
        verify_complaint(&s.params, &dealings[0], &good),
        Err(DkgError::DealerMismatch {
            expected: 1,
            actual: 2
        })
    );
    // A receiver cannot disclose with someone else's key.
    assert_eq!(
        disclose(&s.params, dealing, 3, s.sk(1), &mut rng(4)),
        Err(DkgError::WrongSecretKey { receiver: 3 })
    );

    // The transcript refuses them and the dealer stays qualified.
    let mut transcript = DkgTranscript::new(s.params.clone());
    for d in dealings.clone() {
        transcript.add_dealing(d).unwrap();
    }
    transcript.advance().unwrap();
    assert_eq!(transcript.add_complaint(forged_proof.clone()), invalid);
    assert!(transcript.complaints().is_empty());
    // `qualify` refuses a transcript holding an invalid complaint.
    assert!(matches!(
        qualify(&s.params, &dealings, &[forged_proof]),
        Err(DkgError::InvalidComplaint {
            dealer: 2,
            receiver: 3,
            ..
        })
    ));
}

#[test]
fn withheld_opening_is_reconstructed() {
    let s = setup(3, 4, 13);
    let honest = honest_run(&s);
    let withheld = run(&s, honest_dealings(&s), |i| {
        (i != 4).then(|| open(&s.params, i, s.seed(i)).unwrap())
    });
    assert_eq!(withheld.transcript.needs_reconstruction(), vec![4]);
    assert_eq!(withheld.outcome, honest.outcome);
    for (a, b) in withheld.keys.iter().zip(&honest.keys) {
        assert_eq!(a.secret_key(), b.secret_key());
    }

    // From exactly t disclosures, in any order, and not from t - 1.
    let dealing = deal(&s.params, 4, s.seed(4)).unwrap();
    let disclosures: Vec<Disclosure> = [4u64, 1, 3]
        .iter()
        .map(|&j| disclose(&s.params, &dealing, j, s.sk(j), &mut rng(j)).unwrap())
        .collect();
    assert_eq!(
        reconstruct_opening(&s.params, &dealing, &disclosures).unwrap(),
        open(&s.params, 4, s.seed(4)).unwrap()
    );
    assert_eq!(
        reconstruct_opening(&s.params, &dealing, &disclosures[..2]),
        Err(DkgError::NotEnoughDisclosures {
            dealer: 4,
            have: 2,
            need: 3
        })
    );
    let twice = [disclosures[0].clone(), disclosures[0].clone()];
    assert_eq!(
        reconstruct_opening(&s.params, &dealing, &twice),
        Err(DkgError::DuplicateDisclosure {
            dealer: 4,
            receiver: 4
        })
    );
}

#[test]
fn inconsistent_opening_is_complained_about_and_reconstructed() {
    let s = setup(3, 4, 14);
    let honest = honest_run(&s);
    // Dealer 1 opens x with a wrong linear coefficient: still publicly well formed.
    let bad_opening = |i: SignerIndex| {
        let mut o = open(&s.params, i, s.seed(i)).unwrap();
        if i == 1 {
            o.x[1] += G2Projective::generator();
        }
        Some(o)
    };
    bad_opening(1).unwrap().check_public(&s.params).unwrap();
    let dealing = deal(&s.params, 1, s.seed(1)).unwrap();
    let complaint = disclose(&s.params, &dealing, 2, s.sk(2), &mut rng(5)).unwrap();
    assert_eq!(
        verify_opening_complaint(&s.params, &dealing, &bad_opening(1).unwrap(), &complaint),
        Ok(ComplaintVerdict::Upheld)
    );
    let good_opening = open(&s.params, 1, s.seed(1)).unwrap();
    assert_eq!(
        verify_opening_complaint(&s.params, &dealing, &good_opening, &complaint),
        Ok(ComplaintVerdict::Rejected)
    );

    let run = run(&s, honest_dealings(&s), bad_opening);
    assert_eq!(run.transcript.needs_reconstruction(), vec![1]);
    assert_eq!(run.outcome.qualified(), &[1, 2, 3, 4]);
    assert_eq!(run.outcome, honest.outcome);
    issue_and_verify(
        &run.keys,
        &[0, 1, 3],
        &run.outcome.aggregate_verification_key(),
        6,
    )
    .unwrap();
}

#[test]
fn opening_whose_g1_and_g2_commitments_differ_is_refused() {
    let s = setup(3, 4, 15);
    let mut opening = open(&s.params, 2, s.seed(2)).unwrap();
    opening.ys_g1[2][1] += G1Projective::generator();
    assert_eq!(
        opening.check_public(&s.params),
        Err(DkgError::InconsistentOpening { dealer: 2 })
    );
    let mut opening = open(&s.params, 2, s.seed(2)).unwrap();
    opening.ys_g2[0][0] = opening.ys_g2[0][1];
    assert_eq!(
        opening.check_public(&s.params),
        Err(DkgError::InconsistentOpening { dealer: 2 })
    );
}

#[test]
fn malformed_dealings_and_wrong_phases_are_refused() {
    let s = setup(3, 4, 16);
    let p = &s.params;
    let honest = deal(p, 2, s.seed(2)).unwrap();
    honest.check_public(p).unwrap();

    assert_eq!(
        deal(p, 0, s.seed(1)),
        Err(DkgError::DealerOutOfRange {
            dealer: 0,
            participants: 4
        })
    );
    assert_eq!(
        open(p, 5, s.seed(1)),
        Err(DkgError::DealerOutOfRange {
            dealer: 5,
            participants: 4
        })
    );
    let mut d = honest.clone();
    d.dealer = 5;
    assert!(matches!(
        d.check_public(p),
        Err(DkgError::DealerOutOfRange { dealer: 5, .. })
    ));
    let mut d = honest.clone();
    d.commitments[3].pop();
    assert_eq!(
        d.check_public(p),
        Err(DkgError::WrongShape {
            dealer: 2,
            what: "commitments per secret",
            expected: 3,
            actual: 2
        })
    );
    let mut d = honest.clone();
    d.commitments.pop();
    assert!(matches!(
        d.check_public(p),
        Err(DkgError::WrongShape {
            what: "commitment rows",
            ..
        })
    ));
    let mut d = honest.clone();
    d.ciphertexts.pop();
    assert_eq!(
        d.check_public(p),
        Err(DkgError::WrongShape {
            dealer: 2,
            what: "ciphertexts",
            expected: 4,
            actual: 3
        })
    );
    // A receiver refuses (without complaining) a dealing with a short ciphertext.
    let mut d = honest.clone();
    d.ciphertexts[0].pop();
    let fault = receive(p, &d, 1, s.sk(1)).unwrap_err();
    assert!(!fault.warrants_complaint());
    let mut d = honest.clone();
    d.ephemeral = G1Projective::identity();
    assert_eq!(
        d.check_public(p),
        Err(DkgError::IdentityEphemeral { dealer: 2 })
    );
    // `qualify` excludes a malformed dealing rather than failing.
    let mut bad = honest_dealings(&s);
    bad[0].ciphertexts.pop();
    let q = qualify(p, &bad, &[]).unwrap();
    assert_eq!(q.qualified, vec![2, 3, 4]);
    assert!(matches!(
        q.excluded[0].reason,
        ExclusionReason::BadDealing(_)
    ));
    let q = qualify(p, &bad[1..3], &[]).unwrap();
    assert_eq!(q.qualified, vec![2, 3]);
    assert_eq!(
        q.excluded[1],
        Exclusion {
            dealer: 4,
            reason: ExclusionReason::NoDealing
        }
    );

    // Duplicates and wrong phases.
    assert_eq!(
        qualify(p, &[honest.clone(), honest.clone()], &[]),
        Err(DkgError::DuplicateDealing { dealer: 2 })
    );
    let mut transcript = DkgTranscript::new(p.clone());
    transcript.add_dealing(honest.clone()).unwrap();
    assert_eq!(
        transcript.add_dealing(honest.clone()),
        Err(DkgError::DuplicateDealing { dealer: 2 })
    );
    assert_eq!(
        transcript.add_opening(open(p, 2, s.seed(2)).unwrap()),
        Err(DkgError::WrongPhase {
            item: "an opening",
            expected: DkgPhase::Opening,
            actual: DkgPhase::Dealing
        })
    );
    transcript.advance().unwrap();
    assert!(matches!(
        transcript.add_dealing(deal(p, 3, s.seed(3)).unwrap()),
        Err(DkgError::WrongPhase { .. })
    ));
    transcript.advance().unwrap();
    assert_eq!(
        transcript.add_opening(open(p, 3, s.seed(3)).unwrap()),
        Err(DkgError::NotQualified { dealer: 3 })
    );
    transcript
        .add_opening(open(p, 2, s.seed(2)).unwrap())
        .unwrap();
    assert_eq!(
        transcript.add_opening(open(p, 2, s.seed(2)).unwrap()),
        Err(DkgError::DuplicateOpening { dealer: 2 })
    );
    assert!(matches!(
        transcript.finish(),
        Err(DkgError::WrongPhase { .. })
    ));
    transcript.advance().unwrap();
    assert!(matches!(
        transcript.advance(),
        Err(DkgError::WrongPhase { .. })
    ));
    let disclosure = disclose(p, &honest, 1, s.sk(1), &mut rng(7)).unwrap();
    assert_eq!(
        transcript.add_reconstruction_disclosure(disclosure),
        Err(DkgError::NoReconstructionNeeded { dealer: 2 })
    );
    // Only dealer 2 dealt, and t = 3: its polynomial alone still gives a valid key set.
    transcript.finish().unwrap().verification_key_set().unwrap();
}

#[test]
fn bad_parameters_are_refused() {
    let s = setup(2, 3, 17);
    let keys = s.params.receivers().to_vec();
    for t in [0, 4] {
        assert_eq!(
            DkgParams::new(t, keys.clone(), [0; 32], 4),
            Err(DkgError::InvalidThreshold {
                threshold: t,
                participants: 3
            })
        );
    }
    assert_eq!(
        DkgParams::new(1, keys.clone(), [0; 32], 0),
        Err(DkgError::ZeroAttributes)
    );
    let repeated = vec![keys[0], keys[1], keys[0]];
    assert_eq!(
        DkgParams::new(2, repeated, [0; 32], 4),
        Err(DkgError::DuplicateReceiverKey {
            first: 1,
            second: 3
        })
    );
    let identity = DkgPublicKey(bls12_381::G1Affine::identity());
    assert_eq!(
        DkgParams::new(1, vec![keys[0], identity], [0; 32], 4),
        Err(DkgError::IdentityReceiverKey { receiver: 2 })
    );
    assert!(matches!(
        DkgParams::new(1, vec![keys[0]; 257], [0; 32], 4),
        Err(DkgError::TooLarge { .. })
    ));
    let json = serde_json::to_string(&s.params).unwrap();
    assert_eq!(serde_json::from_str::<DkgParams>(&json).unwrap(), s.params);
    let bad = json.replace("\"threshold\":2", "\"threshold\":9");
    assert!(serde_json::from_str::<DkgParams>(&bad).is_err());
}
