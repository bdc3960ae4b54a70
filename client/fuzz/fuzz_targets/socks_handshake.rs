//! Feeds arbitrary bytes to the SOCKS handshake the way a connection does (append each read
//! to a buffer, hand the buffer over, write the reply, drop the consumed bytes), once whole and
//! once in two reads split at the first byte's value, with both authentication modes, and
//! checks that:
//!
//! * nothing panics and no call consumes more than it was given;
//! * the split does not matter: the same bytes are written back, the same request or error
//!   comes out, and the same bytes are left after a request;
//! * a request holds only valid values (a domain is 1..=255 bytes of printable ASCII).
#![no_main]

use client::socks::handshake::{Auth, ConnectRequest, Handshake, HandshakeErrorKind, Host};
use libfuzzer_sys::fuzz_target;

/// What the app observed.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    wire: Vec<u8>,
    result: Option<Result<ConnectRequest, HandshakeErrorKind>>,
    leftover: Vec<u8>,
}

fn drive(auth: Auth, reads: &[&[u8]]) -> Outcome {
    let mut handshake = Handshake::new(auth);
    let mut buf = Vec::new();
    let mut wire = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        buf.extend_from_slice(read);
        match handshake.handle_input(&buf) {
            Ok(progress) => {
                assert!(progress.consumed <= buf.len(), "consumed more than given");
                wire.extend_from_slice(&progress.reply);
                buf.drain(..progress.consumed);
                if let Some(request) = progress.request {
                    if let Host::Domain(name) = &request.target.host {
                        assert!((1..=255).contains(&name.len()), "domain length");
                        assert!(name.bytes().all(|b| b.is_ascii_graphic()), "domain bytes");
                    }
                    for rest in &reads[i + 1..] {
                        buf.extend_from_slice(rest);
                    }
                    return Outcome {
                        wire,
                        result: Some(Ok(request)),
                        leftover: buf,
                    };
                }
            }
            Err(error) => {
                wire.extend(error.error_reply().unwrap_or_default());
                return Outcome {
                    wire,
                    result: Some(Err(error.kind().clone())),
                    leftover: Vec::new(),
                };
            }
        }
    }
    Outcome {
        wire,
        result: None,
        leftover: buf,
    }
}

fuzz_target!(|data: &[u8]| {
    let at = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (first, second) = data.split_at(at);
    let auths = || {
        [
            Auth::None,
            Auth::UserPass {
                username: b"user".to_vec(),
                password: b"pass".to_vec(),
            },
        ]
    };
    for (a, b) in auths().into_iter().zip(auths()) {
        assert_eq!(drive(a, &[data]), drive(b, &[first, second]));
    }
});
