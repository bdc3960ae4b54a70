use super::*;
use crate::cipher::SessionCipher;

const NOW: u64 = 1_700_000_000_000;
const WINDOW: u64 = 30_000;

fn keys() -> (SigningKey, SigningKey) {
    (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    )
}

fn register(
    client: &SigningKey,
    gateway: &SigningKey,
    at: u64,
) -> (PendingRegistration, Result<RegisterRequest, HandshakeError>) {
    let (pending, request) =
        start_registration(client, &gateway.verifying_key(), [9; 32], at, None);
    let ClientControl::Register {
        identity,
        ephemeral,
        timestamp_ms,
        signature,
        ..
    } = request
    else {
        unreachable!("start_registration builds a register request")
    };
    let verified = RegisterRequest::verify(
        gateway.verifying_key().as_bytes(),
        &identity,
        &ephemeral,
        timestamp_ms,
        &signature,
        NOW,
        WINDOW,
    );
    (pending, verified)
}

fn assert_same_session(client: &SessionKeys, gateway: &SessionKeys) {
    let mut c = SessionCipher::client(client);
    let mut g = SessionCipher::gateway(gateway);
    let frame = c.seal(b"ping").unwrap();
    assert_eq!(g.open(&frame).unwrap(), b"ping");
}

#[test]
fn registration_gives_both_ends_the_same_keys() {
    let (client, gateway) = keys();
    let (pending, request) = register(&client, &gateway, NOW);
    let request = request.unwrap();
    assert_eq!(request.client, client.verifying_key().to_bytes());
    let (answer, gateway_shared, gateway_session) =
        request.accept(&gateway, [5; 32], 100, 2).unwrap();
    let (client_shared, client_session) = pending.finish(&answer).unwrap();
    assert_eq!(client_shared.as_bytes(), gateway_shared.as_bytes());
    assert_same_session(&client_session, &gateway_session);
}

#[test]
fn a_registration_for_another_gateway_or_tampered_is_refused() {
    let (client, gateway) = keys();
    let other = SigningKey::from_bytes(&[3; 32]);
    let (_, request) = start_registration(&client, &other.verifying_key(), [9; 32], NOW, None);
    let ClientControl::Register {
        identity,
        ephemeral,
        timestamp_ms,
        signature,
        ..
    } = request
    else {
        unreachable!()
    };
    let at_gateway = |identity: &str, ephemeral: &str, ts: u64| {
        RegisterRequest::verify(
            gateway.verifying_key().as_bytes(),
            identity,
            ephemeral,
            ts,
            &signature,
            NOW,
            WINDOW,
        )
    };
    assert_eq!(
        at_gateway(&identity, &ephemeral, timestamp_ms).unwrap_err(),
        HandshakeError::BadSignature("client")
    );
    let other_identity = bs58::encode(other.verifying_key().as_bytes()).into_string();
    assert!(matches!(
        at_gateway(&other_identity, &ephemeral, timestamp_ms),
        Err(HandshakeError::BadSignature(_))
    ));
    assert!(matches!(
        at_gateway("not-bs58!", &ephemeral, timestamp_ms),
        Err(HandshakeError::Malformed {
            field: "identity",
            ..
        })
    ));
    assert!(matches!(
        at_gateway(&identity, "abc", timestamp_ms),
        Err(HandshakeError::Malformed {
            field: "ephemeral",
            ..
        })
    ));
}

#[test]
fn stale_requests_are_refused_on_either_side_of_the_window() {
    let (client, gateway) = keys();
    for at in [NOW - WINDOW - 1, NOW + WINDOW + 1] {
        let (_, request) = register(&client, &gateway, at);
        assert_eq!(request.unwrap_err().kind(), ErrorKind::Stale);
    }
    let (_, request) = register(&client, &gateway, NOW - WINDOW);
    assert!(request.is_ok(), "the window's edge is inside");
}

#[test]
fn a_forged_gateway_answer_is_refused_by_the_client() {
    let (client, gateway) = keys();
    let impostor = SigningKey::from_bytes(&[4; 32]);
    let (pending, request) = register(&client, &gateway, NOW);
    let (answer, _, _) = request.unwrap().accept(&impostor, [5; 32], 0, 0).unwrap();
    assert_eq!(
        pending.finish(&answer).unwrap_err(),
        HandshakeError::BadSignature("gateway")
    );
}

#[test]
fn authentication_derives_fresh_session_keys_from_the_shared_key() {
    let (client, gateway) = keys();
    let shared = SharedKey::from_bytes([8; 32]);
    let mut sessions = Vec::new();
    for (client_nonce, gateway_nonce) in [([1; 32], [2; 32]), ([3; 32], [4; 32])] {
        let (pending, request) =
            start_authentication(&client, &gateway.verifying_key(), client_nonce, NOW);
        let ClientControl::Authenticate {
            identity,
            timestamp_ms,
            nonce,
            signature,
        } = request
        else {
            unreachable!()
        };
        let verified = AuthenticateRequest::verify(
            gateway.verifying_key().as_bytes(),
            &identity,
            timestamp_ms,
            &nonce,
            &signature,
            NOW,
            WINDOW,
        )
        .unwrap();
        let (answer, gateway_session) = verified.accept(&gateway, &shared, gateway_nonce, 0, 0);
        let client_session = pending.finish(&shared, &answer).unwrap();
        assert_same_session(&client_session, &gateway_session);
        sessions.push(client_session);
    }
    assert_ne!(
        sessions[0].client_to_gateway(),
        sessions[1].client_to_gateway(),
        "every session has its own keys"
    );
}

#[test]
fn the_replay_window_refuses_repeats_and_forgets_expired_requests() {
    let mut window = ReplayWindow::new(WINDOW, 2, 2);
    let me = [9; 32];
    let a = ([1; 32], NOW);
    let b = ([2; 32], NOW + 10);
    window.check_and_insert(&me, a, NOW).unwrap();
    assert_eq!(
        window.check_and_insert(&me, a, NOW + 5),
        Err(HandshakeError::Replayed)
    );
    window.check_and_insert(&me, b, NOW).unwrap();
    assert_eq!(
        window.check_and_insert(&me, ([3; 32], NOW), NOW),
        Err(HandshakeError::Busy),
        "bounded"
    );
    // After a's timestamp leaves the window it is forgotten (and check_fresh refuses it).
    window
        .check_and_insert(&me, ([3; 32], NOW + WINDOW + 1), NOW + WINDOW + 1)
        .unwrap();
    assert_eq!(window.len(), 2);
}

#[test]
fn one_identity_fills_only_its_own_share_of_the_replay_window() {
    let mut window = ReplayWindow::new(WINDOW, 100, 3);
    let (flooder, honest) = ([7; 32], [8; 32]);
    for i in 0..3u8 {
        window
            .check_and_insert(&flooder, ([i; 32], NOW), NOW)
            .unwrap();
    }
    assert_eq!(
        window.check_and_insert(&flooder, ([50; 32], NOW), NOW),
        Err(HandshakeError::Busy),
        "the flooder's share is full"
    );
    window
        .check_and_insert(&honest, ([60; 32], NOW), NOW)
        .expect("another identity still gets in");
    // The share comes back as its requests expire.
    window
        .check_and_insert(&flooder, ([51; 32], NOW + WINDOW + 1), NOW + WINDOW + 1)
        .unwrap();
}

#[test]
fn registration_work_is_checked_against_the_gateways_bits() {
    let (client, gateway) = keys();
    let (g, c) = (
        gateway.verifying_key().to_bytes(),
        client.verifying_key().to_bytes(),
    );
    let identity = bs58::encode(c).into_string();
    let nonce = crate::registration_work::solve(&g, &c, 10, 0, 1 << 22).unwrap();
    let (_, request) =
        start_registration(&client, &gateway.verifying_key(), [9; 32], NOW, Some(nonce));
    let ClientControl::Register { work, .. } = request else {
        unreachable!()
    };
    assert_eq!(work, Some(nonce), "the request carries the work");
    assert_eq!(check_registration_work(&g, &identity, work, 10), Ok(()));
    // None at all, too little for more bits, work for another identity: refused, naming the bits.
    assert_eq!(
        check_registration_work(&g, &identity, None, 10),
        Err(HandshakeError::WorkRequired(10))
    );
    let harder = (0..)
        .find(|n| !crate::registration_work::is_enough(&g, &c, *n, 20))
        .unwrap();
    assert_eq!(
        check_registration_work(&g, &identity, Some(harder), 20),
        Err(HandshakeError::WorkRequired(20))
    );
    let other = bs58::encode([7u8; 32]).into_string();
    assert!(!crate::registration_work::is_enough(
        &g, &[7; 32], nonce, 10
    ));
    assert_eq!(
        check_registration_work(&g, &other, Some(nonce), 10),
        Err(HandshakeError::WorkRequired(10))
    );
    assert_eq!(
        HandshakeError::WorkRequired(10).kind(),
        ErrorKind::WorkRequired
    );
    // Zero bits: no work asked.
    assert_eq!(check_registration_work(&g, &identity, None, 0), Ok(()));
}
