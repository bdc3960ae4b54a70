//! Coconut's wire types (`coconut/encoding.rs`): the first input byte picks a type, the rest
//! is decoded as its bytes, as its base58 text and as its serde (JSON string) form. Checks that
//! nothing panics and that:
//!
//! * the byte encoding is canonical: a decoded value encodes back to exactly the input bytes
//!   (points compressed and checked, scalars canonical, counts exact, nothing trailing), and
//!   its base58 and JSON forms decode to the same value;
//! * the verification entry points refuse what they must, against fixed test keys and a real
//!   credential: a decoded presentation verifies only if it is the real one, a decoded
//!   signature only if it is the real credential, a decoded verification key verifies the
//!   real presentation only if it is the real aggregate key; a decoded blinded signature
//!   unblinds to a valid partial credential only if it is one of the real ones; a decoded
//!   blind-sign request is signed only if its proof verifies; decoded keys, signatures and
//!   key sets aggregate or are refused.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use validator_core::coconut::{
    aggregate_signatures, aggregate_verification_keys, blind_sign, unblind_and_verify,
    verify_credential, BlindSignProof, BlindSignRequest, BlindedSignature, CommitmentOpenings,
    CredentialProof, SecretKey, Signature, Theta, VerificationKey,
};

use common::credentials;

/// Bytes, base58 and JSON agree on `value` decoded from `bytes`, and the bytes are canonical.
macro_rules! round_trips {
    ($ty:ty, $value:expr, $bytes:expr) => {{
        let value: &$ty = $value;
        let encoded = value.to_bytes();
        assert_eq!(
            &encoded[..],
            $bytes,
            "{} bytes are canonical",
            stringify!($ty)
        );
        let text = value.to_bs58();
        let from_text = <$ty>::try_from_bs58(&text).expect("base58 decodes");
        assert!(from_text == *value, "{} base58 round trip", stringify!($ty));
        let json = serde_json::to_string(value).expect("encodes");
        let from_json: $ty = serde_json::from_str(&json).expect("JSON decodes");
        assert!(from_json == *value, "{} JSON round trip", stringify!($ty));
    }};
}

/// Every decoding of `$ty` from `data`: bytes, base58 text, JSON.
macro_rules! decodings {
    ($ty:ty, $data:expr) => {{
        let data: &[u8] = $data;
        let mut out: Vec<$ty> = Vec::new();
        if let Ok(v) = <$ty>::try_from_bytes(data) {
            round_trips!($ty, &v, data);
            out.push(v);
        }
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(v) = <$ty>::try_from_bs58(text) {
                round_trips!($ty, &v, &v.to_bytes()[..]);
                out.push(v);
            }
        }
        if let Ok(v) = serde_json::from_slice::<$ty>(data) {
            round_trips!($ty, &v, &v.to_bytes()[..]);
            out.push(v);
        }
        out
    }};
}

fn theta(theta: &Theta) {
    let c = credentials();
    let ok = verify_credential(
        &c.params,
        &c.key_set.aggregate,
        theta,
        &c.public.scalars(),
        &c.spend.context().to_bytes(),
    );
    if ok.is_ok() {
        assert!(
            theta == c.theta(),
            "a presentation that is not the real one verified"
        );
    }
    let _ = theta.zeta_bytes();
}

fn signature(signature: &Signature) {
    let c = credentials();
    let attributes: Vec<_> = c
        .private
        .iter()
        .copied()
        .chain(c.public.scalars())
        .collect();
    if signature
        .verify(&c.params, &c.key_set.aggregate, &attributes)
        .is_ok()
    {
        assert!(*signature == c.signature, "a forged credential verified");
    }
    let _ = aggregate_signatures(&[(1, signature.clone()), (2, c.signature.clone())]);
}

fn verification_key(key: &VerificationKey) {
    let c = credentials();
    let verifies = verify_credential(
        &c.params,
        key,
        c.theta(),
        &c.public.scalars(),
        &c.spend.context().to_bytes(),
    );
    if verifies.is_ok() {
        assert!(
            *key == c.key_set.aggregate,
            "another key verified the presentation"
        );
    }
    let _ =
        aggregate_verification_keys(&[(1, key.clone()), (2, c.keys[1].verification_key().clone())]);
}

fn blinded(blinded: &BlindedSignature) {
    let c = credentials();
    for key in &c.keys {
        let unblinded = unblind_and_verify(
            &c.params,
            key.verification_key(),
            &c.request,
            blinded,
            &c.openings,
            &c.private,
            &c.public.scalars(),
        );
        if unblinded.is_ok() {
            assert!(
                c.blinded.contains(blinded),
                "a forged blinded signature unblinded"
            );
        }
    }
}

fn request(request: &BlindSignRequest) {
    let c = credentials();
    let scalars = c.public.scalars();
    let proof = request.verify(&c.params, &scalars);
    let signed = blind_sign(&c.params, c.keys[0].secret_key(), request, &scalars);
    if signed.is_ok() {
        assert!(proof.is_ok(), "a request with a failing proof was signed");
    }
    let _ = validator_core::credential::request_digest(request, &c.public);
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    // Points are slow to decompress: keep inputs to a few dozen of them.
    if data.len() > 8 * 1024 {
        return;
    }
    match kind % 9 {
        0 => decodings!(Theta, data).iter().for_each(theta),
        1 => decodings!(Signature, data).iter().for_each(signature),
        2 => decodings!(VerificationKey, data)
            .iter()
            .for_each(verification_key),
        3 => decodings!(BlindedSignature, data).iter().for_each(blinded),
        4 => decodings!(BlindSignRequest, data).iter().for_each(request),
        5 => {
            decodings!(BlindSignProof, data);
        }
        6 => {
            decodings!(CredentialProof, data);
        }
        7 => {
            let c = credentials();
            for key in decodings!(SecretKey, data) {
                if key.num_attributes() <= 8 {
                    let _ = key.verification_key(&c.params);
                }
            }
        }
        _ => {
            decodings!(CommitmentOpenings, data);
        }
    }
});
