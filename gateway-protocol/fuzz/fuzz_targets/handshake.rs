//! Runs the gateway's side of registration and authentication (what
//! `gateway/src/connection/handshake.rs` does with a client's first text frame) on a sequence
//! of requests read with `arbitrary`: requests built by the real client functions from a few
//! fixed identities with fuzzed ephemeral secrets, nonces, clock skews and work, some then
//! mutated (a flipped signature bit, another field's value, a bs58 string replaced by fuzzed
//! text), requests signed over a fuzzed ephemeral public key (low-order points included), and
//! requests with every field fuzzed. Checks that nothing panics and that:
//!
//! * an unmutated fresh request verifies, a stale one is refused as stale, a mutated one never
//!   verifies;
//! * the replay window refuses a request seen before and stays within its capacity;
//! * an accepted request gives the client, finishing with the gateway's answer, the same keys
//!   (a frame sealed by one end opens at the other).
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use gateway_protocol::handshake::{
    check_registration_work, register_signing_bytes, start_authentication, start_registration,
    AuthenticateRequest, RegisterRequest, ReplayWindow, SessionKeys,
};
use gateway_protocol::{
    ClientControl, GatewayControl, HandshakeError, SessionCipher, SharedKey, DEFAULT_AUTH_WINDOW_MS,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000_000;
const WINDOW: u64 = DEFAULT_AUTH_WINDOW_MS;
const CAPACITY: usize = 8;
const PER_IDENTITY: usize = 3;

/// The gateway's key and three client identities, derived once (key derivation is most of an
/// execution's cost otherwise).
fn keys() -> &'static [SigningKey; 4] {
    static KEYS: OnceLock<[SigningKey; 4]> = OnceLock::new();
    KEYS.get_or_init(|| [200, 1, 2, 3].map(|b| SigningKey::from_bytes(&[b; 32])))
}

fn same_session(client: &SessionKeys, gateway: &SessionKeys) {
    let mut c = SessionCipher::client(client);
    let mut g = SessionCipher::gateway(gateway);
    let frame = c.seal(b"ready").expect("seal");
    assert_eq!(
        g.open(&frame)
            .expect("the gateway opens the client's frame"),
        b"ready"
    );
    let back = g.seal(b"ok").expect("seal");
    assert_eq!(
        c.open(&back).expect("the client opens the gateway's frame"),
        b"ok"
    );
}

fn fuzzed_text(u: &mut Unstructured) -> Result<String> {
    if u.arbitrary::<bool>()? {
        let len = u.int_in_range(0..=70usize)?;
        Ok(bs58::encode(u.bytes(len)?).into_string())
    } else {
        u.arbitrary::<String>()
    }
}

/// Which mutation: 0 none; 1 flip a signature bit; 2 replace a string field by fuzzed text;
/// 3 change the timestamp.
fn mutate(
    u: &mut Unstructured,
    fields: &mut [&mut String],
    signature: &mut String,
    timestamp: &mut u64,
) -> Result<bool> {
    match u.int_in_range(0..=6u8)? {
        1 => {
            let mut bytes = bs58::decode(&*signature).into_vec().expect("our own bs58");
            let bit = u.choose_index(bytes.len() * 8)?;
            bytes[bit / 8] ^= 1 << (bit % 8);
            *signature = bs58::encode(bytes).into_string();
        }
        2 => {
            let i = u.choose_index(fields.len())?;
            let text = fuzzed_text(u)?;
            if *fields[i] == text {
                return Ok(false);
            }
            *fields[i] = text;
        }
        3 => {
            let delta = u.int_in_range(1..=u64::MAX)?;
            *timestamp = timestamp.wrapping_add(delta);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

struct Gateway {
    key: SigningKey,
    replay: ReplayWindow,
    registered: HashMap<[u8; 32], SharedKey>,
    now: u64,
}

impl Gateway {
    fn register(
        &mut self,
        u: &mut Unstructured,
        request: &ClientControl,
        work_bits: u8,
    ) -> Result<Option<(GatewayControl, SessionKeys)>> {
        let ClientControl::Register {
            identity,
            ephemeral,
            timestamp_ms,
            signature,
            work,
        } = request
        else {
            unreachable!("a register request")
        };
        let gateway = self.key.verifying_key().to_bytes();
        if let Err(e) = check_registration_work(&gateway, identity, *work, work_bits) {
            let _ = e.kind();
            return Ok(None);
        }
        let verified = RegisterRequest::verify(
            &gateway,
            identity,
            ephemeral,
            *timestamp_ms,
            signature,
            self.now,
            WINDOW,
        );
        let request = match verified {
            Ok(request) => request,
            Err(e) => {
                let _ = (e.kind(), e.to_string());
                return Ok(None);
            }
        };
        if let Err(e) = self.check_replay(&request.client, request.replay_token()) {
            let _ = e.kind();
            return Ok(None);
        }
        let secret: [u8; 32] = u.arbitrary()?;
        match request.accept(&self.key, secret, 100, 2) {
            Ok((answer, shared, session)) => {
                self.registered.insert(request.client, shared);
                Ok(Some((answer, session)))
            }
            Err(e) => {
                assert_eq!(
                    e,
                    HandshakeError::WeakKey,
                    "accept fails only on a weak key"
                );
                Ok(None)
            }
        }
    }

    fn authenticate(
        &mut self,
        u: &mut Unstructured,
        request: &ClientControl,
    ) -> Result<Option<(GatewayControl, SessionKeys)>> {
        let ClientControl::Authenticate {
            identity,
            timestamp_ms,
            nonce,
            signature,
        } = request
        else {
            unreachable!("an authenticate request")
        };
        let gateway = self.key.verifying_key().to_bytes();
        let verified = AuthenticateRequest::verify(
            &gateway,
            identity,
            *timestamp_ms,
            nonce,
            signature,
            self.now,
            WINDOW,
        );
        let request = match verified {
            Ok(request) => request,
            Err(e) => {
                let _ = (e.kind(), e.to_string());
                return Ok(None);
            }
        };
        let Some(shared) = self.registered.get(&request.client).cloned() else {
            return Ok(None);
        };
        if self
            .check_replay(&request.client, request.replay_token())
            .is_err()
        {
            return Ok(None);
        }
        let gateway_nonce: [u8; 32] = u.arbitrary()?;
        Ok(Some(request.accept(
            &self.key,
            &shared,
            gateway_nonce,
            100,
            2,
        )))
    }

    fn check_replay(
        &mut self,
        client: &[u8; 32],
        token: ([u8; 32], u64),
    ) -> std::result::Result<(), HandshakeError> {
        let first = self.replay.check_and_insert(client, token, self.now);
        assert!(self.replay.len() <= CAPACITY, "replay window over capacity");
        if first.is_ok() {
            assert_eq!(
                self.replay.check_and_insert(client, token, self.now),
                Err(HandshakeError::Replayed),
                "a request just seen was not refused"
            );
        }
        first
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let mut gw = Gateway {
        key: keys()[0].clone(),
        replay: ReplayWindow::new(WINDOW, CAPACITY, PER_IDENTITY),
        registered: HashMap::new(),
        now: NOW,
    };
    let gateway_public = gw.key.verifying_key();
    for _ in 0..u.int_in_range(1..=8u8)? {
        let client = &keys()[u.choose_index(3)? + 1];
        let skew = i64::from(u.arbitrary::<i32>()?) * 16;
        let at = gw.now.wrapping_add_signed(skew);
        let fresh = skew.unsigned_abs() <= WINDOW;
        match u.int_in_range(0..=4u8)? {
            0 => {
                let secret: [u8; 32] = u.arbitrary()?;
                let (pending, mut request) =
                    start_registration(client, &gateway_public, secret, at, None);
                let ClientControl::Register {
                    identity,
                    ephemeral,
                    timestamp_ms,
                    signature,
                    ..
                } = &mut request
                else {
                    unreachable!()
                };
                let mutated = mutate(
                    u,
                    &mut [&mut *identity, &mut *ephemeral],
                    signature,
                    timestamp_ms,
                )?;
                let verified = RegisterRequest::verify(
                    gateway_public.as_bytes(),
                    identity,
                    ephemeral,
                    *timestamp_ms,
                    signature,
                    gw.now,
                    WINDOW,
                );
                match (&verified, mutated, fresh) {
                    (Ok(_), false, true) | (Err(HandshakeError::Stale { .. }), false, false) => {}
                    (Err(_), true, _) => {}
                    other => panic!("unexpected verification: {other:?}"),
                }
                if let Some((answer, session)) = gw.register(u, &request, 0)? {
                    assert!(!mutated && fresh);
                    let (_, client_session) = pending
                        .finish(&answer)
                        .expect("the client accepts the answer");
                    same_session(&client_session, &session);
                }
            }
            1 => {
                let nonce: [u8; 32] = u.arbitrary()?;
                let (pending, mut request) =
                    start_authentication(client, &gateway_public, nonce, at);
                let ClientControl::Authenticate {
                    identity,
                    timestamp_ms,
                    nonce,
                    signature,
                } = &mut request
                else {
                    unreachable!()
                };
                let mutated = mutate(
                    u,
                    &mut [&mut *identity, &mut *nonce],
                    signature,
                    timestamp_ms,
                )?;
                if let Some((answer, session)) = gw.authenticate(u, &request)? {
                    assert!(!mutated && fresh);
                    let shared = gw.registered[&client.verifying_key().to_bytes()].clone();
                    let client_session = pending
                        .finish(&shared, &answer)
                        .expect("the client accepts the answer");
                    same_session(&client_session, &session);
                }
            }
            2 => {
                // Signed properly over a fuzzed ephemeral public key.
                let ephemeral: [u8; 32] = if u.arbitrary::<bool>()? {
                    [0; 32]
                } else {
                    u.arbitrary()?
                };
                let identity = client.verifying_key().to_bytes();
                let signature = client.sign(&register_signing_bytes(
                    gateway_public.as_bytes(),
                    &identity,
                    &ephemeral,
                    at,
                ));
                let request = ClientControl::Register {
                    identity: bs58::encode(identity).into_string(),
                    ephemeral: bs58::encode(ephemeral).into_string(),
                    timestamp_ms: at,
                    signature: bs58::encode(signature.to_bytes()).into_string(),
                    work: u.arbitrary()?,
                };
                let bits = u.int_in_range(0..=2u8)?;
                let _ = gw.register(u, &request, bits)?;
            }
            3 => {
                let request = if u.arbitrary::<bool>()? {
                    ClientControl::Register {
                        identity: fuzzed_text(u)?,
                        ephemeral: fuzzed_text(u)?,
                        timestamp_ms: u.arbitrary()?,
                        signature: fuzzed_text(u)?,
                        work: u.arbitrary()?,
                    }
                } else {
                    ClientControl::Authenticate {
                        identity: fuzzed_text(u)?,
                        timestamp_ms: u.arbitrary()?,
                        nonce: fuzzed_text(u)?,
                        signature: fuzzed_text(u)?,
                    }
                };
                let answer = match request {
                    ClientControl::Register { .. } => {
                        let bits = u.int_in_range(0..=30u8)?;
                        gw.register(u, &request, bits)?
                    }
                    _ => gw.authenticate(u, &request)?,
                };
                assert!(
                    answer.is_none(),
                    "a request with fuzzed fields was accepted"
                );
            }
            _ => {
                gw.now = gw.now.wrapping_add(u64::from(u.arbitrary::<u16>()?) * 8);
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
