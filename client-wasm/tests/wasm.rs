//! The client's pure parts compiled to WebAssembly, run by `wasm-bindgen-test-runner` in
//! Node.js (no browser needed): randomness from the platform's crypto, the RFC vectors of
//! the signature and key-agreement curves on their 32-bit backend, and the page's options
//! and the stored identity read the same as natively.
//!
//! `cargo test -p client-wasm --target wasm32-unknown-unknown` (the runner is set for the
//! target in `.cargo/config.toml`). The native build of this file is empty.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use client_wasm::options::StartOptions;
use client_wasm::stored::{fresh_secrets, StoredClient};
use ed25519_dalek::{Signer, SigningKey};
use rand_core::{OsRng, RngCore};
use wasm_bindgen_test::wasm_bindgen_test;
use zeroize::Zeroizing;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[wasm_bindgen_test]
fn randomness_comes_from_the_platform() {
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    OsRng.fill_bytes(&mut a);
    OsRng.fill_bytes(&mut b);
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
    let (i1, e1, _) = fresh_secrets(&mut OsRng);
    let (i2, e2, _) = fresh_secrets(&mut OsRng);
    assert_ne!((i1, e1), (i2, e2));
}

#[wasm_bindgen_test]
fn ed25519_signs_as_rfc_8032_says() {
    // RFC 8032, section 7.1, TEST 2.
    let secret: [u8; 32] = hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
        .try_into()
        .unwrap();
    let key = SigningKey::from_bytes(&secret);
    assert_eq!(
        key.verifying_key().to_bytes().to_vec(),
        hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    );
    let signature = key.sign(&[0x72]);
    assert_eq!(
        signature.to_bytes().to_vec(),
        hex(concat!(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ))
    );
}

#[wasm_bindgen_test]
fn x25519_agrees_as_rfc_7748_says() {
    // RFC 7748, section 6.1.
    let alice: [u8; 32] = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        .try_into()
        .unwrap();
    let bob_public: [u8; 32] =
        hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
            .try_into()
            .unwrap();
    let shared = x25519_dalek::StaticSecret::from(alice)
        .diffie_hellman(&x25519_dalek::PublicKey::from(bob_public));
    assert_eq!(
        shared.as_bytes().to_vec(),
        hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    );
}

#[wasm_bindgen_test]
fn options_and_the_stored_client_read_the_same_in_wasm() {
    let checked = StartOptions::from_json(
        r#"{"validators":["http://127.0.0.1:1"],"timing":{"sendGapMs":10}}"#,
    )
    .unwrap()
    .check()
    .unwrap();
    assert_eq!(checked.core.send_gap.as_millis(), 10);
    let (identity, encryption, ack) = fresh_secrets(&mut OsRng);
    let stored = StoredClient {
        identity: Zeroizing::new(identity),
        encryption: Zeroizing::new(encryption),
        ack: Zeroizing::new(ack),
        shared: Zeroizing::new([4; 32]),
        gateway: SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes(),
        gateway_url: "ws://127.0.0.1:1".into(),
    };
    let back = StoredClient::from_json(&stored.to_json()).unwrap();
    assert_eq!(back.address().to_string(), stored.address().to_string());
}
