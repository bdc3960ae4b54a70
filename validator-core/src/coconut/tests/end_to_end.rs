use super::*;

#[test]
fn issue_and_verify_for_several_thresholds() {
    for (t, n) in [(1, 1), (2, 3), (3, 5), (7, 10)] {
        let mut rng = rng(t * 100 + n);
        let auth = authorities(t, n, &mut rng);
        let user = user(&mut rng);
        let signature = credential(&auth, &user, &mut rng);
        signature
            .verify(&auth.params, &auth.vk, &all_attributes(&user))
            .unwrap();

        let theta = prove_credential(
            &auth.params,
            &auth.vk,
            &signature,
            &user.private,
            CONTEXT,
            &mut rng,
        )
        .unwrap();
        verify_credential(&auth.params, &auth.vk, &theta, &user.public, CONTEXT).unwrap();
        // The presentation hides the credential: h' and s' are re-randomised.
        assert_ne!(theta.credential().h(), signature.h());
        assert_ne!(theta.credential().s(), signature.s());
    }
}

#[test]
fn any_t_of_n_partials_aggregate_to_the_same_signature_and_key() {
    let mut rng = rng(7);
    let auth = authorities(3, 5, &mut rng);
    let user = user(&mut rng);
    let partials = partial_signatures(&auth, &user, &mut rng);
    let aggregate = |which: &[usize]| {
        let subset: Vec<_> = which.iter().map(|&i| partials[i]).collect();
        aggregate_signatures(&subset).unwrap()
    };
    let reference = aggregate(&[0, 1, 2]);
    for which in [
        &[2, 3, 4][..],
        &[0, 2, 4],
        &[4, 1, 3],
        &[0, 1, 2, 3, 4],
        &[3, 0, 1, 4],
    ] {
        assert_eq!(aggregate(which), reference, "subset {which:?}");
        let vk = aggregate_verification_keys(&vk_shares(&auth.keys, which)).unwrap();
        assert_eq!(vk, auth.vk, "subset {which:?}");
    }
    reference
        .verify(&auth.params, &auth.vk, &all_attributes(&user))
        .unwrap();
}

#[test]
fn fewer_than_t_partials_do_not_verify() {
    let mut rng = rng(8);
    let auth = authorities(4, 6, &mut rng);
    let user = user(&mut rng);
    let partials = partial_signatures(&auth, &user, &mut rng);
    for _ in 0..3 {
        let chosen = random_subset(partials.len(), auth.threshold - 1, &mut rng);
        let subset: Vec<_> = chosen.iter().map(|&i| partials[i]).collect();
        let weak = aggregate_signatures(&subset).unwrap();
        assert_eq!(
            weak.verify(&auth.params, &auth.vk, &all_attributes(&user)),
            Err(CoconutError::SignatureVerificationFailed)
        );
        let theta = prove_credential(
            &auth.params,
            &auth.vk,
            &weak,
            &user.private,
            CONTEXT,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            verify_credential(&auth.params, &auth.vk, &theta, &user.public, CONTEXT),
            Err(CoconutError::SignatureVerificationFailed)
        );
        // t - 1 keys do not aggregate to the real key either.
        assert_ne!(
            aggregate_verification_keys(&vk_shares(&auth.keys, &chosen)).unwrap(),
            auth.vk
        );
    }
}

#[test]
fn partial_signature_only_verifies_under_its_own_key() {
    let mut rng = rng(9);
    let auth = authorities(2, 3, &mut rng);
    let user = user(&mut rng);
    let (openings, request) =
        prepare_blind_sign(&auth.params, &user.private, &user.public, &mut rng).unwrap();
    let blinded = blind_sign(
        &auth.params,
        auth.keys[0].secret_key(),
        &request,
        &user.public,
    )
    .unwrap();
    let result = unblind_and_verify(
        &auth.params,
        auth.keys[1].verification_key(),
        &request,
        &blinded,
        &openings,
        &user.private,
        &user.public,
    );
    assert_eq!(result, Err(CoconutError::SignatureVerificationFailed));
}

#[test]
fn other_attribute_shapes() {
    let mut rng = rng(10);
    // Keys for 5 attributes, credentials on fewer.
    let params = Parameters::new(5).unwrap();
    let keys = ttp_keygen(&params, 2, 3, &mut rng).unwrap();
    let vk = aggregate_verification_keys(&vk_shares(&keys, &[0, 1, 2])).unwrap();
    for (private, public) in [(1, 0), (1, 4), (3, 1), (5, 0)] {
        let user = User {
            private: (0..private).map(|i| Scalar::from(i as u64 + 11)).collect(),
            public: (0..public).map(|i| Scalar::from(i as u64 + 99)).collect(),
        };
        let (openings, request) =
            prepare_blind_sign(&params, &user.private, &user.public, &mut rng).unwrap();
        let partials: Vec<_> = keys[1..]
            .iter()
            .map(|key| {
                let blinded =
                    blind_sign(&params, key.secret_key(), &request, &user.public).unwrap();
                let sig = unblind(key.verification_key(), &blinded, &openings).unwrap();
                (key.index(), sig)
            })
            .collect();
        let signature = aggregate_signatures(&partials).unwrap();
        signature
            .verify(&params, &vk, &all_attributes(&user))
            .unwrap();
        let theta =
            prove_credential(&params, &vk, &signature, &user.private, CONTEXT, &mut rng).unwrap();
        verify_credential(&params, &vk, &theta, &user.public, CONTEXT).unwrap();
    }
}

#[test]
fn attribute_counts_are_checked() {
    let mut rng = rng(11);
    let auth = authorities(1, 1, &mut rng);
    let one = [Scalar::one()];
    let three = [Scalar::one(); 3];
    assert_eq!(
        prepare_blind_sign(&auth.params, &[], &one, &mut rng).unwrap_err(),
        CoconutError::NoPrivateAttributes
    );
    assert_eq!(
        prepare_blind_sign(&auth.params, &three, &three, &mut rng).unwrap_err(),
        CoconutError::TooManyAttributes {
            requested: 6,
            supported: 4
        }
    );
    let (_, request) = prepare_blind_sign(&auth.params, &three, &one, &mut rng).unwrap();
    assert_eq!(
        blind_sign(&auth.params, auth.keys[0].secret_key(), &request, &three).unwrap_err(),
        CoconutError::TooManyAttributes {
            requested: 6,
            supported: 4
        }
    );
    let sig = Signature {
        h: G1Projective::generator(),
        s: G1Projective::generator(),
    };
    assert_eq!(
        prove_credential(&auth.params, &auth.vk, &sig, &[], CONTEXT, &mut rng).unwrap_err(),
        CoconutError::NoPrivateAttributes
    );
}

use bls12_381::G1Projective;

/// The example in the module documentation, verbatim.
#[test]
fn documented_flow() -> Result<()> {
    let mut rng = rand::rng();
    let params = Parameters::new(4)?;
    let keys = ttp_keygen(&params, 2, 3, &mut rng)?;

    let private = [hash_to_attribute(b"serial"), hash_to_attribute(b"binding")];
    let public = [
        Scalar::from(1024u64),
        hash_to_attribute(b"BandwidthVoucher"),
    ];
    let (openings, request) = prepare_blind_sign(&params, &private, &public, &mut rng)?;

    let mut partials = Vec::new();
    for key in &keys[..2] {
        let blinded = blind_sign(&params, key.secret_key(), &request, &public)?;
        let vk = key.verification_key();
        let sig = unblind_and_verify(
            &params, vk, &request, &blinded, &openings, &private, &public,
        )?;
        partials.push((key.index(), sig));
    }
    let signature = aggregate_signatures(&partials)?;
    let vks: Vec<_> = keys
        .iter()
        .map(|k| (k.index(), k.verification_key().clone()))
        .collect();
    let vk = aggregate_verification_keys(&vks)?;

    let theta = prove_credential(&params, &vk, &signature, &private, CONTEXT, &mut rng)?;
    verify_credential(&params, &vk, &theta, &public, CONTEXT)?;
    let spent_tag: [u8; 96] = theta.zeta_bytes(); // look up / insert in the spent set
    assert_eq!(spent_tag, theta.zeta_bytes());
    Ok(())
}
