//! Every tampered input must be rejected.

use bls12_381::{G1Projective, G2Projective};

use super::*;

/// A modification applied to an otherwise valid value.
type Tamper<'a, T> = Box<dyn Fn(&mut T) + 'a>;

struct Issued {
    auth: Authorities,
    user: User,
    signature: Signature,
    theta: Theta,
}

fn issued(seed: u64) -> Issued {
    let mut rng = rng(seed);
    let auth = authorities(2, 3, &mut rng);
    let user = user(&mut rng);
    let signature = credential(&auth, &user, &mut rng);
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
    Issued {
        auth,
        user,
        signature,
        theta,
    }
}

fn request(seed: u64) -> (Authorities, User, CommitmentOpenings, BlindSignRequest) {
    let mut rng = rng(seed);
    let auth = authorities(2, 3, &mut rng);
    let user = user(&mut rng);
    let (openings, request) =
        prepare_blind_sign(&auth.params, &user.private, &user.public, &mut rng).unwrap();
    (auth, user, openings, request)
}

fn sign(
    auth: &Authorities,
    request: &BlindSignRequest,
    public: &[Scalar],
) -> Result<BlindedSignature> {
    blind_sign(&auth.params, auth.keys[0].secret_key(), request, public)
}

#[test]
fn untampered_request_is_signed() {
    let (auth, user, _, request) = request(20);
    request.verify(&auth.params, &user.public).unwrap();
    sign(&auth, &request, &user.public).unwrap();
}

#[test]
fn tampered_pi_s_is_rejected() {
    let (auth, user, _, request) = request(21);
    let tampers: Vec<Tamper<'_, BlindSignProof>> = vec![
        Box::new(|p| p.challenge += Scalar::one()),
        Box::new(|p| p.response_opening += Scalar::one()),
        Box::new(|p| p.response_attribute_openings[1] += Scalar::one()),
        Box::new(|p| p.response_attributes[0] += Scalar::one()),
        Box::new(|p| p.response_attributes.swap(0, 1)),
    ];
    for tamper in tampers {
        let mut bad = request.clone();
        tamper(&mut bad.pi_s);
        assert_eq!(
            sign(&auth, &bad, &user.public),
            Err(CoconutError::InvalidBlindSignProof)
        );
    }
    // Dropping a response: length mismatch is a proof failure, not a panic.
    let mut bad = request.clone();
    bad.pi_s.response_attributes.pop();
    assert_eq!(
        sign(&auth, &bad, &user.public),
        Err(CoconutError::InvalidBlindSignProof)
    );
}

#[test]
fn tampered_request_values_are_rejected() {
    let (auth, user, _, request) = request(22);
    let g1 = G1Projective::generator();

    let mut bad = request.clone();
    bad.commitment_hash += g1;
    assert_eq!(
        sign(&auth, &bad, &user.public),
        Err(CoconutError::CommitmentHashMismatch)
    );

    // A new commitment with its matching hash, but the proof is for the old one.
    let mut bad = request.clone();
    bad.commitment += g1;
    bad.commitment_hash = crate::coconut::hash::commitment_hash(&bad.commitment);
    assert_eq!(
        sign(&auth, &bad, &user.public),
        Err(CoconutError::InvalidBlindSignProof)
    );

    let mut bad = request.clone();
    bad.private_attributes_commitments[1] += request.commitment_hash;
    assert_eq!(
        sign(&auth, &bad, &user.public),
        Err(CoconutError::InvalidBlindSignProof)
    );

    let mut bad = request.clone();
    bad.private_attributes_commitments.swap(0, 1);
    assert_eq!(
        sign(&auth, &bad, &user.public),
        Err(CoconutError::InvalidBlindSignProof)
    );
}

#[test]
fn blind_sign_with_other_public_attributes_is_rejected() {
    let (auth, user, _, request) = request(23);
    let mut public = user.public.clone();
    public[0] = Scalar::from(2_000_000u64);
    assert_eq!(
        sign(&auth, &request, &public),
        Err(CoconutError::InvalidBlindSignProof)
    );
    assert_eq!(
        sign(&auth, &request, &public[..1]),
        Err(CoconutError::InvalidBlindSignProof)
    );
}

#[test]
fn tampered_blinded_signature_is_rejected() {
    let (auth, user, openings, request) = request(24);
    let blinded = sign(&auth, &request, &user.public).unwrap();
    let vk = auth.keys[0].verification_key();
    let unblind = |b: &BlindedSignature, private: &[Scalar], public: &[Scalar]| {
        unblind_and_verify(&auth.params, vk, &request, b, &openings, private, public)
    };
    unblind(&blinded, &user.private, &user.public).unwrap();

    let mut bad = blinded;
    bad.c += G1Projective::generator();
    assert_eq!(
        unblind(&bad, &user.private, &user.public),
        Err(CoconutError::SignatureVerificationFailed)
    );

    let mut bad = blinded;
    bad.h = bad.h.double();
    assert_eq!(
        unblind(&bad, &user.private, &user.public),
        Err(CoconutError::ForeignBlindedSignature)
    );

    let mut public = user.public.clone();
    public[1] += Scalar::one();
    assert_eq!(
        unblind(&blinded, &user.private, &public),
        Err(CoconutError::SignatureVerificationFailed)
    );
    assert!(matches!(
        unblind(&blinded, &user.private[..1], &user.public),
        Err(CoconutError::LengthMismatch { .. })
    ));
}

#[test]
fn tampered_pi_v_is_rejected() {
    let Issued {
        auth, user, theta, ..
    } = issued(25);
    let tampers: Vec<Tamper<'_, CredentialProof>> = vec![
        Box::new(|p| p.challenge += Scalar::one()),
        Box::new(|p| p.response_blinder += Scalar::one()),
        Box::new(|p| p.response_attributes[0] += Scalar::one()),
        Box::new(|p| p.response_attributes[1] += Scalar::one()),
    ];
    for tamper in tampers {
        let mut bad = theta.clone();
        tamper(&mut bad.pi_v);
        assert_eq!(
            verify_credential(&auth.params, &auth.vk, &bad, &user.public, CONTEXT),
            Err(CoconutError::InvalidCredentialProof)
        );
    }
    let mut bad = theta.clone();
    bad.pi_v.response_attributes.clear();
    assert_eq!(
        verify_credential(&auth.params, &auth.vk, &bad, &user.public, CONTEXT),
        Err(CoconutError::NoPrivateAttributes)
    );
}

#[test]
fn tampered_theta_values_are_rejected() {
    let Issued {
        auth, user, theta, ..
    } = issued(26);
    let g2 = G2Projective::generator();
    let g1 = G1Projective::generator();
    let verify = |t: &Theta| verify_credential(&auth.params, &auth.vk, t, &user.public, CONTEXT);

    let mut bad = theta.clone();
    bad.blinded_message += g2;
    assert_eq!(verify(&bad), Err(CoconutError::InvalidCredentialProof));

    let mut bad = theta.clone();
    bad.blinded_serial_number += g2;
    assert_eq!(verify(&bad), Err(CoconutError::InvalidCredentialProof));

    // Changing sigma' breaks pi_v (which binds it) and, independently, the pairing check.
    let mut bad = theta.clone();
    bad.credential.s += g1;
    assert!(verify(&bad).is_err());
    let mut bad = theta.clone();
    bad.credential.h = bad.credential.h.double();
    assert!(verify(&bad).is_err());
    let mut bad = theta.clone();
    bad.credential.h = G1Projective::identity();
    assert_eq!(verify(&bad), Err(CoconutError::IdentitySignature));
}

#[test]
fn forged_theta_with_valid_proof_but_bad_signature_fails_pairing() {
    // Build a presentation honestly from a *wrong* s: pi_v is valid, the pairing must catch it.
    let Issued {
        auth,
        user,
        signature,
        ..
    } = issued(27);
    let mut rng = rng(270);
    let forged = Signature {
        h: signature.h,
        s: signature.s + G1Projective::generator(),
    };
    let theta = prove_credential(
        &auth.params,
        &auth.vk,
        &forged,
        &user.private,
        CONTEXT,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        verify_credential(&auth.params, &auth.vk, &theta, &user.public, CONTEXT),
        Err(CoconutError::SignatureVerificationFailed)
    );
    // Wrong private attributes: pi_v is still a valid proof about them, pairing fails.
    let wrong_private = vec![user.private[0], user.private[1] + Scalar::one()];
    let theta = prove_credential(
        &auth.params,
        &auth.vk,
        &signature,
        &wrong_private,
        CONTEXT,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        verify_credential(&auth.params, &auth.vk, &theta, &user.public, CONTEXT),
        Err(CoconutError::SignatureVerificationFailed)
    );
}

#[test]
fn tampered_public_attribute_is_rejected() {
    let Issued {
        auth,
        user,
        signature,
        theta,
    } = issued(28);
    let mut public = user.public.clone();
    public[0] = Scalar::from(999_999_999u64);
    assert_eq!(
        verify_credential(&auth.params, &auth.vk, &theta, &public, CONTEXT),
        Err(CoconutError::SignatureVerificationFailed)
    );
    assert_eq!(
        verify_credential(&auth.params, &auth.vk, &theta, &public[..1], CONTEXT),
        Err(CoconutError::SignatureVerificationFailed)
    );
    assert_eq!(
        verify_credential(
            &auth.params,
            &auth.vk,
            &theta,
            &[public[0], public[1], Scalar::one()],
            CONTEXT
        ),
        Err(CoconutError::TooManyAttributes {
            requested: 5,
            supported: 4
        })
    );
    let mut attributes = all_attributes(&user);
    attributes[3] += Scalar::one();
    assert_eq!(
        signature.verify(&auth.params, &auth.vk, &attributes),
        Err(CoconutError::SignatureVerificationFailed)
    );
}

#[test]
fn tampered_verification_key_is_rejected() {
    let Issued {
        auth,
        user,
        signature,
        theta,
    } = issued(29);
    let g2 = G2Projective::generator();
    let tampers: Vec<Tamper<'_, VerificationKey>> = vec![
        Box::new(|vk| vk.alpha += g2),
        Box::new(|vk| vk.beta_g2[0] += g2),
        Box::new(|vk| vk.beta_g2[1] += g2),
        Box::new(|vk| vk.beta_g2[2] += g2),
        Box::new(|vk| vk.beta_g2[3] += g2),
    ];
    for tamper in tampers {
        let mut vk = auth.vk.clone();
        tamper(&mut vk);
        assert!(verify_credential(&auth.params, &vk, &theta, &user.public, CONTEXT).is_err());
        assert!(signature
            .verify(&auth.params, &vk, &all_attributes(&user))
            .is_err());
    }
    // A key from another dealer.
    let mut rng = rng(290);
    let other = authorities(2, 3, &mut rng);
    assert!(verify_credential(&auth.params, &other.vk, &theta, &user.public, CONTEXT).is_err());
}

#[test]
fn identity_signature_is_rejected() {
    let Issued { auth, user, .. } = issued(30);
    let trivial = Signature {
        h: G1Projective::identity(),
        s: G1Projective::identity(),
    };
    assert_eq!(
        trivial.verify(&auth.params, &auth.vk, &all_attributes(&user)),
        Err(CoconutError::IdentitySignature)
    );
    assert_eq!(
        aggregate_signatures(&[(1, trivial)]),
        Err(CoconutError::IdentitySignature)
    );
}

#[test]
fn bad_aggregation_inputs_are_rejected() {
    let mut rng = rng(31);
    let auth = authorities(2, 3, &mut rng);
    let user = user(&mut rng);
    let partials = partial_signatures(&auth, &user, &mut rng);
    let other = partial_signatures(&auth, &user, &mut rng);

    assert_eq!(
        aggregate_signatures(&[]),
        Err(CoconutError::EmptyAggregation)
    );
    assert_eq!(
        aggregate_signatures(&[partials[0], partials[0]]),
        Err(CoconutError::DuplicateIndex(1))
    );
    assert_eq!(
        aggregate_signatures(&[(0, partials[0].1), partials[1]]),
        Err(CoconutError::ZeroIndex)
    );
    assert_eq!(
        aggregate_signatures(&[partials[0], other[1]]),
        Err(CoconutError::MismatchedCommitmentHashes)
    );

    let keys = vk_shares(&auth.keys, &[0, 1, 2]);
    assert_eq!(
        aggregate_verification_keys(&[]),
        Err(CoconutError::EmptyAggregation)
    );
    assert_eq!(
        aggregate_verification_keys(&[keys[1].clone(), keys[1].clone()]),
        Err(CoconutError::DuplicateIndex(2))
    );
    assert_eq!(
        aggregate_verification_keys(&[(0, keys[0].1.clone())]),
        Err(CoconutError::ZeroIndex)
    );
    let mut short = keys[2].clone();
    short.1.beta_g2.pop();
    assert!(matches!(
        aggregate_verification_keys(&[keys[0].clone(), short]),
        Err(CoconutError::LengthMismatch { .. })
    ));
    let mut short = keys[2].clone();
    short.1.beta_g1.pop();
    assert!(matches!(
        aggregate_verification_keys(&[keys[0].clone(), short]),
        Err(CoconutError::LengthMismatch { .. })
    ));
}

#[test]
fn a_presentation_verifies_only_in_the_context_it_was_made_for() {
    let Issued {
        auth, user, theta, ..
    } = issued(41);
    let mut other_gateway = CONTEXT.to_vec();
    other_gateway[8] ^= 1;
    for context in [&other_gateway[..], b"", &CONTEXT[..CONTEXT.len() - 1]] {
        assert_eq!(
            verify_credential(&auth.params, &auth.vk, &theta, &user.public, context),
            Err(CoconutError::InvalidCredentialProof),
            "a presentation for {CONTEXT:?} was accepted for {context:?}"
        );
    }
}
