//! A stranger's bytes on a Noise link, at every point a node reads them:
//!
//! * any 8 bytes as a message header: decoded or refused, never a panic; a handshake header
//!   accepted for a step announces exactly that step's length;
//! * the input as message 1 at a responder, and the rest as message 3: refused with a
//!   reason, never a panic, and never a session (completing a handshake needs the DH
//!   results, which bytes chosen without the keys cannot carry);
//! * the input as transport message bodies on a session made by a real handshake: every one
//!   refused (a forged tag), the counters untouched, and the genuine next message still
//!   opens afterwards;
//! * the input as the byte stream of an established link, read by the engine's
//!   `SealedAssembler` through reads of every size the input picks: no frame comes out of
//!   forged bytes, an error ends it, and every buffer goes back to the pool.
#![no_main]

use libfuzzer_sys::fuzz_target;
use router_core::mix::Timestamp;
use router_core::noise::handshake::{expect_handshake, initiate, respond, StaticKey, MESSAGE_LENS};
use router_core::noise::header::{Header, HEADER_LEN};
use router_core::noise::transport::OVERHEAD;
use router_core::noise::NoiseError;
use router_core::pipeline::{BufferPool, SealedAssembler};

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.get(..HEADER_LEN) {
        let header: [u8; HEADER_LEN] = header.try_into().unwrap();
        let _ = Header::decode(&header);
        for step in 1..=3u8 {
            if expect_handshake(&header, step).is_ok() {
                let decoded = Header::decode(&header).unwrap();
                assert_eq!(decoded.body_len, MESSAGE_LENS[usize::from(step - 1)]);
            }
        }
    }

    let responder = StaticKey::from_secret([7; 32]);
    let first = data.get(..48).unwrap_or(data);
    match respond(&responder, first) {
        Ok((waiting, _second)) => {
            let third = data.get(48..).unwrap_or_default();
            assert!(
                waiting.read_third(third).is_err(),
                "a session from forged bytes"
            );
        }
        Err(e) => assert!(matches!(
            e,
            NoiseError::HandshakeFailed { step: 1 } | NoiseError::HandshakeLength { step: 1, .. }
        )),
    }

    // A real session; the input split into bodies.
    let initiator = StaticKey::from_secret([8; 32]);
    let (waiting, first) = initiate(&initiator, responder.public()).unwrap();
    let (answering, second) = respond(&responder, &first[HEADER_LEN..]).unwrap();
    let (third, mut ours) = waiting.read_second(&second[HEADER_LEN..]).unwrap();
    let mut theirs = answering.read_third(&third[HEADER_LEN..]).unwrap();
    for chunk in data.chunks(97) {
        let mut body = chunk.to_vec();
        assert!(
            theirs.transport.open(&mut body).is_err(),
            "a forged message opened"
        );
    }
    assert_eq!(theirs.transport.received(), 0);
    let mut genuine = vec![0u8; 5 + OVERHEAD];
    genuine[HEADER_LEN..HEADER_LEN + 5].copy_from_slice(b"hello");
    ours.transport.seal(&mut genuine).unwrap();
    assert_eq!(
        theirs.transport.open(&mut genuine[HEADER_LEN..]).unwrap(),
        b"hello"
    );

    // The engine's reader on a link whose stream is the input.
    let mut pool = BufferPool::new(1 << 24);
    let mut assembler = SealedAssembler::new(theirs.transport, 1);
    let mut out = Vec::new();
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1) * 37;
    let mut pos = 0;
    while pos < data.len() {
        assembler.prepare(&mut pool);
        let written = assembler.with_read_targets(|targets| {
            let mut written = 0;
            for target in targets.iter_mut() {
                let n = target
                    .len()
                    .min(data.len() - pos - written)
                    .min(chunk - written);
                target[..n].copy_from_slice(&data[pos + written..pos + written + n]);
                written += n;
                if written == chunk || pos + written == data.len() {
                    break;
                }
            }
            written
        });
        if written == 0 {
            break;
        }
        pos += written;
        if assembler
            .commit(written, Timestamp::from_millis(1), &mut pool, &mut out)
            .is_err()
        {
            break;
        }
    }
    assert!(out.is_empty(), "a frame from forged bytes");
    assembler.release(&mut pool);
    assert_eq!(pool.outstanding_bytes(), 0, "a buffer leaked");
});
