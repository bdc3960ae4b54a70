//! The handshake and transport against each other, against `snow` used directly as the
//! oracle (its own transport mode decrypts what we seal, and we open what it seals), and
//! against an attacker's inputs.

use super::handshake::{expect_handshake, initiate, respond, StaticKey, MESSAGE_LENS};
use super::header::{Header, MessageType, HEADER_LEN};
use super::transport::OVERHEAD;
use super::*;

fn key(tag: u8) -> StaticKey {
    StaticKey::from_secret([tag; 32])
}

/// Splits a framed message into its checked header and its body.
fn body(message: &[u8], step: u8) -> &[u8] {
    let header: [u8; HEADER_LEN] = message[..HEADER_LEN].try_into().unwrap();
    expect_handshake(&header, step).unwrap();
    &message[HEADER_LEN..]
}

fn sealed(transport: &mut transport::Transport, plaintext: &[u8]) -> Vec<u8> {
    let mut message = vec![0u8; plaintext.len() + OVERHEAD];
    message[HEADER_LEN..HEADER_LEN + plaintext.len()].copy_from_slice(plaintext);
    transport.seal(&mut message).unwrap();
    message
}

fn handshake(
    initiator: &StaticKey,
    responder: &StaticKey,
) -> (handshake::Session, handshake::Session) {
    let (waiting, first) = initiate(initiator, responder.public()).unwrap();
    assert_eq!(first.len(), HEADER_LEN + 48);
    let (answering, second) = respond(responder, body(&first, 1)).unwrap();
    let (third, ours) = waiting.read_second(body(&second, 2)).unwrap();
    let theirs = answering.read_third(body(&third, 3)).unwrap();
    (ours, theirs)
}

#[test]
fn a_handshake_names_both_keys_and_both_directions_carry_bytes() {
    let (a, b) = (key(1), key(2));
    let (mut ours, mut theirs) = handshake(&a, &b);
    assert_eq!(&ours.remote_static, b.public());
    assert_eq!(&theirs.remote_static, a.public());
    for round in 0..3u8 {
        let frame = vec![round; 2417];
        let mut m = sealed(&mut ours.transport, &frame);
        let h = Header::decode(m[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!((h.kind, h.body_len), (MessageType::Data, 2417 + TAG_LEN));
        // The ciphertext is not the plaintext.
        assert_ne!(&m[HEADER_LEN..HEADER_LEN + 2417], &frame[..]);
        let opened = theirs.transport.open(&mut m[HEADER_LEN..]).unwrap();
        assert_eq!(opened, &frame[..]);
        let mut back = sealed(&mut theirs.transport, b"ack");
        assert_eq!(
            ours.transport.open(&mut back[HEADER_LEN..]).unwrap(),
            b"ack"
        );
    }
    assert_eq!(ours.transport.sent(), 3);
    assert_eq!(theirs.transport.received(), 3);
}

#[test]
fn snow_itself_decrypts_what_we_seal_and_we_open_what_it_seals() {
    let (a, b) = (key(3), key(4));
    // The responder is plain snow, built from the protocol's facts alone.
    let mut hash = sha2::Sha256::new();
    sha2::Digest::update(&mut hash, b"NYMTECH_NOISE_dQw4w9WgXcQ");
    sha2::Digest::update(&mut hash, b.public());
    let oracle_psk: [u8; 32] = sha2::Digest::finalize(hash).into();
    let mut oracle = snow::Builder::new("Noise_XKpsk3_25519_AESGCM_SHA256".parse().unwrap())
        .psk(3, &oracle_psk)
        .local_private_key(&[4; 32])
        .build_responder()
        .unwrap();
    let mut scratch = [0u8; 1024];
    let (waiting, first) = initiate(&a, b.public()).unwrap();
    oracle.read_message(body(&first, 1), &mut scratch).unwrap();
    let mut second = vec![0u8; HEADER_LEN + 48];
    second[..HEADER_LEN].copy_from_slice(&Header::encode(MessageType::Handshake, 48));
    assert_eq!(
        oracle
            .write_message(&[], &mut second[HEADER_LEN..])
            .unwrap(),
        48
    );
    let (third, mut ours) = waiting.read_second(body(&second, 2)).unwrap();
    oracle.read_message(body(&third, 3), &mut scratch).unwrap();
    assert_eq!(oracle.get_remote_static().unwrap(), a.public());
    let mut oracle = oracle.into_transport_mode().unwrap();

    let mut plain = vec![0u8; 70_000];
    for n in [0usize, 1, 2417, transport::MAX_PLAINTEXT] {
        let frame: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let m = sealed(&mut ours.transport, &frame);
        let got = oracle.read_message(&m[HEADER_LEN..], &mut plain).unwrap();
        assert_eq!(&plain[..got], &frame[..], "{n} bytes");
        let mut back = vec![0u8; HEADER_LEN + n + TAG_LEN];
        let len = oracle
            .write_message(&frame, &mut back[HEADER_LEN..])
            .unwrap();
        assert_eq!(len, n + TAG_LEN);
        let opened = ours.transport.open(&mut back[HEADER_LEN..]).unwrap();
        assert_eq!(opened, &frame[..]);
    }
}

#[test]
fn an_initiator_aiming_at_another_key_fails_at_the_responders_first_read() {
    let (a, b, c) = (key(5), key(6), key(7));
    // `a` believes `b`'s address holds key `c`.
    let (_, first) = initiate(&a, c.public()).unwrap();
    let e = respond(&b, body(&first, 1)).unwrap_err();
    assert_eq!(e, NoiseError::HandshakeFailed { step: 1 });
    assert_eq!(e.label(), "handshake_failed");
}

#[test]
fn garbage_and_wrong_lengths_in_the_handshake_are_refused_by_step() {
    let b = key(8);
    let e = respond(&b, &[0x42; 48]).unwrap_err();
    assert_eq!(e, NoiseError::HandshakeFailed { step: 1 });
    let e = respond(&b, &[0x42; 47]).unwrap_err();
    assert!(matches!(
        e,
        NoiseError::HandshakeLength {
            step: 1,
            got: 47,
            ..
        }
    ));
    // A header announcing more than the step's bytes is refused before the body is read.
    let long = Header::encode(MessageType::Handshake, 60_000);
    assert!(matches!(
        expect_handshake(&long, 1),
        Err(NoiseError::HandshakeLength { got: 60_000, .. })
    ));
    let data = Header::encode(MessageType::Data, 48);
    assert!(matches!(
        expect_handshake(&data, 2),
        Err(NoiseError::UnexpectedMessage { .. })
    ));
    // A tampered message 3 (the initiator's key or its proof) fails the responder.
    let a = key(9);
    let (waiting, first) = initiate(&a, b.public()).unwrap();
    let (answering, second) = respond(&b, body(&first, 1)).unwrap();
    let (mut third, _) = waiting.read_second(body(&second, 2)).unwrap();
    third[HEADER_LEN + 5] ^= 1;
    let e = answering.read_third(body(&third, 3)).unwrap_err();
    assert_eq!(e, NoiseError::HandshakeFailed { step: 3 });
    assert_eq!(MESSAGE_LENS, [48, 48, 64]);
}

#[test]
fn a_flipped_byte_a_replay_and_a_dropped_message_each_fail_the_tag() {
    let (mut ours, mut theirs) = handshake(&key(10), &key(11));
    let first = sealed(&mut ours.transport, b"first");
    let second = sealed(&mut ours.transport, b"second");
    let third = sealed(&mut ours.transport, b"third");

    let mut flipped = first.clone();
    flipped[HEADER_LEN + 2] ^= 0x80;
    assert_eq!(
        theirs
            .transport
            .open(&mut flipped[HEADER_LEN..])
            .unwrap_err(),
        NoiseError::BadTag
    );
    // A failed message does not move the counter: the genuine one still opens.
    let mut genuine = first.clone();
    assert_eq!(
        theirs.transport.open(&mut genuine[HEADER_LEN..]).unwrap(),
        b"first"
    );
    // The same bytes again: a replay.
    let mut replayed = first.clone();
    assert_eq!(
        theirs
            .transport
            .open(&mut replayed[HEADER_LEN..])
            .unwrap_err(),
        NoiseError::BadTag
    );
    // The third before the second: the counter does not match.
    let mut skipped = third.clone();
    assert_eq!(
        theirs
            .transport
            .open(&mut skipped[HEADER_LEN..])
            .unwrap_err(),
        NoiseError::BadTag
    );
    let mut in_order = second.clone();
    assert_eq!(
        theirs.transport.open(&mut in_order[HEADER_LEN..]).unwrap(),
        b"second"
    );
    // Too short to hold a tag.
    assert_eq!(
        theirs.transport.open(&mut [0u8; 15]).unwrap_err(),
        NoiseError::BadLength(15)
    );
}

#[test]
fn a_seal_buffer_without_room_or_over_the_maximum_is_refused() {
    let (mut ours, _) = handshake(&key(12), &key(13));
    assert!(matches!(
        ours.transport.seal(&mut [0u8; OVERHEAD - 1]),
        Err(NoiseError::BadLength(_))
    ));
    let mut big = vec![0u8; transport::MAX_PLAINTEXT + 1 + OVERHEAD];
    assert!(matches!(
        ours.transport.seal(&mut big),
        Err(NoiseError::BadLength(_))
    ));
    assert_eq!(ours.transport.sent(), 0);
}

#[test]
fn the_psk_is_the_hash_of_the_prefix_and_the_responders_key() {
    let b = key(14);
    let mut input = PSK_PREFIX.to_vec();
    input.extend_from_slice(b.public());
    let expected: [u8; 32] = sha2::Digest::finalize(sha2::Sha256::new_with_prefix(&input)).into();
    assert_eq!(psk(b.public()), expected);
    assert_ne!(psk(b.public()), psk(key(15).public()));
}
