//! Coconut costs for the mixnet's bandwidth credential: 2 private attributes (serial, binding)
//! and 2 public ones (bandwidth value, credential type), threshold 7 of 10 authorities.

use criterion::{criterion_group, criterion_main, Criterion};
use ff::Field;
use rand::rngs::StdRng;
use rand::SeedableRng;

use validator_core::coconut::*;

const THRESHOLD: u64 = 7;
const AUTHORITIES: u64 = 10;

fn bench_coconut(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(42);
    let params = Parameters::new(4).expect("4 attributes is a valid parameter size");
    let keys = ttp_keygen(&params, THRESHOLD, AUTHORITIES, &mut rng).expect("7 <= 10");
    let private = [Scalar::random(&mut rng), Scalar::random(&mut rng)];
    let public = [
        Scalar::from(1_000_000u64),
        hash_to_attribute(b"BandwidthVoucher"),
    ];

    c.bench_function("prepare_blind_sign (2 private + 2 public)", |b| {
        b.iter(|| prepare_blind_sign(&params, &private, &public, &mut rng).expect("valid input"))
    });

    let (openings, request) =
        prepare_blind_sign(&params, &private, &public, &mut rng).expect("valid input");
    let key = &keys[0];
    c.bench_function("blind_sign (verifies pi_s)", |b| {
        b.iter(|| blind_sign(&params, key.secret_key(), &request, &public).expect("valid request"))
    });

    let blinded = blind_sign(&params, key.secret_key(), &request, &public).expect("valid");
    c.bench_function("unblind_and_verify", |b| {
        b.iter(|| {
            unblind_and_verify(
                &params,
                key.verification_key(),
                &request,
                &blinded,
                &openings,
                &private,
                &public,
            )
            .expect("honest signature")
        })
    });

    let partials: Vec<(SignerIndex, Signature)> = keys[..THRESHOLD as usize]
        .iter()
        .map(|k| {
            let blinded = blind_sign(&params, k.secret_key(), &request, &public).expect("valid");
            let sig = unblind(k.verification_key(), &blinded, &openings).expect("valid");
            (k.index(), sig)
        })
        .collect();
    let vk_shares: Vec<(SignerIndex, VerificationKey)> = keys[..THRESHOLD as usize]
        .iter()
        .map(|k| (k.index(), k.verification_key().clone()))
        .collect();

    c.bench_function("aggregate_signatures (7 of 10)", |b| {
        b.iter(|| aggregate_signatures(&partials).expect("distinct indices"))
    });
    c.bench_function("aggregate_verification_keys (7 of 10)", |b| {
        b.iter(|| aggregate_verification_keys(&vk_shares).expect("distinct indices"))
    });

    let signature = aggregate_signatures(&partials).expect("distinct indices");
    let vk = aggregate_verification_keys(&vk_shares).expect("distinct indices");
    c.bench_function("prove_credential", |b| {
        b.iter(|| {
            prove_credential(
                &params,
                &vk,
                &signature,
                &private,
                b"bench context",
                &mut rng,
            )
            .expect("valid")
        })
    });

    let theta = prove_credential(
        &params,
        &vk,
        &signature,
        &private,
        b"bench context",
        &mut rng,
    )
    .expect("valid");
    c.bench_function("verify_credential", |b| {
        b.iter(|| {
            verify_credential(&params, &vk, &theta, &public, b"bench context")
                .expect("valid credential")
        })
    });
}

criterion_group!(benches, bench_coconut);
criterion_main!(benches);
