//! The key generation's wire messages from peer validators (`coconut/dkg/wire.rs`,
//! `chain/dkg`), received in each phase of a real run. The run is played once per process
//! through blocks of the test chain (four validators, threshold 3; validator 4 withholds its
//! opening so the run goes through reconstruction), and the state at the start of each
//! phase is kept. An input is `kind, phase, sender, payload`: the kind (its low seven bits;
//! the high bit tampers with the signed message) picks one decoder for the payload: a
//! [`DkgMessage`] or a [`DkgBody`] (JSON), a [`Dealing`], an [`Opening`], a list of
//! [`Disclosure`]s, a [`DkgPublicKey`] or a [`DleqProof`] (bytes), or a dealing, an opening, a
//! disclosure or a public key from hex text. Checks that nothing panics and that:
//!
//! * every decoded value round-trips: bytes (canonical except where a dealing has no rows or
//!   no ciphertexts and the column or length count is dropped, so those compare by value),
//!   hex and JSON;
//! * the receiving validator's checks refuse or accept without panicking: a dealing's public
//!   checks and every receiver's share decryption, an opening's pairing check and every
//!   receiver's shares against it, disclosures against the real dealings and openings
//!   (complaints, opening complaints, reconstruction); a disclosure whose proof verifies
//!   discloses the receiver's real key;
//! * the body, signed by the chosen validator, is taken by the run's check exactly when a
//!   block holding it validates, and a message whose signature fails never validates.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use validator_core::chain::dkg::{DkgBody, DkgMessage, KeyEpoch, Phase};
use validator_core::chain::Transaction;
use validator_core::coconut::dkg::{
    disclose, receive, reconstruct_opening, verify_complaint, verify_disclosure,
    verify_opening_complaint, Dealing, Disclosure, DkgPublicKey, DleqProof, Opening,
};
use validator_core::test_util::{next_block, validator_key, FakeSpends};

use common::{genesis, genesis_hash, json_round_trip, phases, PhaseState, VALIDATORS};

/// Signs `body` as validator `v` for the run of `p` and offers it in a block.
fn offer(p: &PhaseState, v: u32, body: DkgBody, tamper: bool) {
    let (g, gh) = (genesis(), genesis_hash());
    let run = p.run();
    let mut message = DkgMessage::sign(&gh, run.id, body, &validator_key(v));
    if tamper {
        message.key_epoch.0 ^= 1 << 40;
    }
    let checked = run.check(g, &gh, &message.validator, &message.body);
    let signed = message.verify(&gh);
    let block = next_block(
        &p.state,
        p.state.last_time_ms() + 1,
        vec![Transaction::Dkg(Box::new(message))],
    );
    let applied = p.state.validate_block(&block, &FakeSpends);
    if applied.is_ok() {
        assert!(signed, "a message with a bad signature was applied");
        assert!(checked.is_ok(), "a block holds a message the run refuses");
    }
    if checked.is_ok() && signed && !tamper && v < VALIDATORS {
        assert!(
            applied.is_ok(),
            "the run takes a message a block refuses: {applied:?}"
        );
    }
}

fn dealing(p: &PhaseState, d: &Dealing) {
    let Some(params) = &p.params else { return };
    let _ = d.check_public(params);
    for (j, sk) in (1..).zip(&p.sks) {
        let _ = receive(params, d, j, sk);
    }
}

fn opening(p: &PhaseState, done: &KeyEpoch, o: &Opening) {
    let Some(params) = &p.params else { return };
    if o.check_public(params).is_err() {
        return;
    }
    if let Some(d) = done.dealings.get(&o.dealer()) {
        for (j, sk) in (1..).zip(&p.sks) {
            if let Ok(shares) = receive(params, d, j, sk) {
                let _ = o.verify_shares(&shares);
            }
        }
    }
}

fn disclosures(p: &PhaseState, done: &KeyEpoch, list: &[Disclosure]) {
    let Some(params) = &p.params else { return };
    let mut rng = StdRng::seed_from_u64(5);
    for d in list {
        let Some(dealing) = done.dealings.get(&d.dealer()) else {
            continue;
        };
        if verify_disclosure(params, dealing, d).is_ok() {
            let sk = usize::try_from(d.receiver())
                .ok()
                .and_then(|j| p.sks.get(j.checked_sub(1)?))
                .expect("a verified disclosure names a receiver");
            let real = disclose(params, dealing, d.receiver(), sk, &mut rng).expect("discloses");
            assert_eq!(
                d.key(),
                real.key(),
                "a disclosure proved a key that is not the receiver's"
            );
        }
        let _ = verify_complaint(params, dealing, d);
        if let Some(o) = done.openings.get(&d.dealer()) {
            let _ = verify_opening_complaint(params, dealing, o, d);
        }
        let _ = reconstruct_opening(params, dealing, list);
    }
}

/// Wire bytes, hex and JSON give `value` back; the bytes are `bytes` when `canonical`.
macro_rules! wire {
    ($ty:ty, $value:expr, $bytes:expr, $canonical:expr) => {{
        let value: &$ty = $value;
        let encoded = value.to_bytes();
        if $canonical {
            assert_eq!(
                &encoded[..],
                $bytes,
                "{} bytes are canonical",
                stringify!($ty)
            );
        }
        let again = <$ty>::try_from_bytes(&encoded[..]).expect("re-decodes");
        assert_eq!(&again, value, "{} byte round trip", stringify!($ty));
        assert_eq!(
            &again.to_bytes()[..],
            &encoded[..],
            "{} re-encoding",
            stringify!($ty)
        );
        let hex = value.to_hex();
        assert_eq!(&<$ty>::try_from_hex(&hex).expect("hex decodes"), value);
        let json = serde_json::to_vec(value).expect("encodes");
        assert_eq!(
            &serde_json::from_slice::<$ty>(&json).expect("JSON decodes"),
            value
        );
    }};
}

fn dealing_is_canonical(d: &Dealing) -> bool {
    !d.commitments().is_empty() && !d.ciphertexts().is_empty()
}

fuzz_target!(|data: &[u8]| {
    let [kind, phase, sender, payload @ ..] = data else {
        return;
    };
    if payload.len() > 64 * 1024 {
        return;
    }
    let (all, done) = phases();
    let p = &all[usize::from(*phase) % all.len()];
    let v = u32::from(*sender) % (VALIDATORS + 1);
    let tamper = kind & 0x80 != 0;
    match (kind & 0x7f) % 11 {
        0 => {
            if let Some(m) = json_round_trip::<DkgMessage>(payload) {
                let gh = genesis_hash();
                let signed = m.verify(&gh);
                let _ = p.run().check(genesis(), &gh, &m.validator, &m.body);
                let block = next_block(
                    &p.state,
                    p.state.last_time_ms() + 1,
                    vec![Transaction::Dkg(Box::new(m))],
                );
                if p.state.validate_block(&block, &FakeSpends).is_ok() {
                    assert!(signed, "a message with a bad signature was applied");
                }
            }
        }
        1 => {
            if let Some(body) = json_round_trip::<DkgBody>(payload) {
                offer(p, v, body, tamper);
            }
        }
        2 => {
            if let Ok(d) = Dealing::try_from_bytes(payload) {
                wire!(Dealing, &d, payload, dealing_is_canonical(&d));
                dealing(p, &d);
                offer(p, v, DkgBody::Dealing(Box::new(d)), tamper);
            }
        }
        3 => {
            if let Ok(o) = Opening::try_from_bytes(payload) {
                wire!(Opening, &o, payload, true);
                opening(p, done, &o);
                offer(p, v, DkgBody::Opening(Box::new(o)), tamper);
            }
        }
        4 => {
            let list: Vec<Disclosure> = payload
                .chunks(Disclosure::BYTES)
                .filter_map(|chunk| {
                    let d = Disclosure::try_from_bytes(chunk).ok()?;
                    wire!(Disclosure, &d, chunk, true);
                    Some(d)
                })
                .collect();
            disclosures(p, done, &list);
            let body = match p.run().phase {
                Phase::Complaints => DkgBody::Complaints(list),
                Phase::OpeningComplaints => DkgBody::OpeningComplaints(list),
                _ => DkgBody::Reveals(list),
            };
            offer(p, v, body, tamper);
        }
        5 => {
            if let Ok(key) = DkgPublicKey::try_from_bytes(payload) {
                wire!(DkgPublicKey, &key, payload, true);
                offer(p, v, DkgBody::Register(key), tamper);
            }
        }
        6 => {
            if let Ok(proof) = DleqProof::try_from_bytes(payload) {
                wire!(DleqProof, &proof, payload, true);
            }
        }
        hex => {
            let Ok(text) = std::str::from_utf8(payload) else {
                return;
            };
            match hex {
                7 => {
                    if let Ok(d) = Dealing::try_from_hex(text) {
                        wire!(Dealing, &d, &d.to_bytes()[..], true);
                        dealing(p, &d);
                    }
                }
                8 => {
                    if let Ok(o) = Opening::try_from_hex(text) {
                        wire!(Opening, &o, &o.to_bytes()[..], true);
                        opening(p, done, &o);
                    }
                }
                9 => {
                    if let Ok(d) = Disclosure::try_from_hex(text) {
                        wire!(Disclosure, &d, &d.to_bytes()[..], true);
                        disclosures(p, done, &[d]);
                    }
                }
                _ => {
                    if let Ok(k) = DkgPublicKey::try_from_hex(text) {
                        wire!(DkgPublicKey, &k, &k.to_bytes()[..], true);
                    }
                }
            }
        }
    }
});
