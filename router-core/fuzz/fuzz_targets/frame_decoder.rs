//! Feeds arbitrary bytes, split at an arbitrary point, to the incremental
//! frame decoder the way a connection does (decode complete frames, keep the
//! partial tail, append the next read) and checks that:
//!
//! * nothing panics;
//! * every decoded frame re-encodes to exactly the bytes it was decoded from;
//! * the split does not matter: two reads yield the same frames, the same
//!   error and the same leftover as one read of everything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use router_core::wire::{decode_frame_range, encode_frame, frames, FrameError, FrameHeader};

/// What a connection observed: frames (header, exact wire bytes), the fatal
/// error if any, and the bytes still buffered at the end.
#[derive(Debug, PartialEq, Eq, Default)]
struct Outcome {
    frames: Vec<(FrameHeader, Vec<u8>)>,
    error: Option<FrameError>,
    leftover: Vec<u8>,
}

/// Decodes every complete frame in `buf`, records them, drops them from the
/// front of `buf` and checks each one re-encodes to its own bytes.
fn drain(buf: &mut Vec<u8>, out: &mut Outcome) {
    let mut it = frames(buf);
    let mut pos = 0;
    for frame in it.by_ref() {
        match frame {
            Ok(frame) => {
                let start = pos;
                pos += frame.consumed;
                let wire = &buf[start..pos];
                let mut re = vec![0u8; frame.header.frame_len()];
                let n = encode_frame(&frame.header, frame.body, &mut re)
                    .expect("a decoded frame must be re-encodable");
                assert_eq!(n, frame.consumed);
                assert_eq!(re, wire, "re-encoding differs from the input");
                assert_eq!(frame.body.len(), frame.header.size.size());

                // The offset API must agree with the borrowing iterator.
                let r = decode_frame_range(buf, start)
                    .expect("same bytes decoded before")
                    .expect("complete before");
                assert_eq!(r.header, frame.header);
                assert_eq!(r.frame(), start..pos);
                assert_eq!(&buf[r.body.clone()], frame.body);

                out.frames.push((frame.header, wire.to_vec()));
            }
            Err(e) => {
                out.error = Some(e);
            }
        }
    }
    // Fused: nothing more after `None`.
    assert!(it.next().is_none());
    assert_eq!(it.consumed(), pos);
    assert_eq!(it.remainder().len(), buf.len() - it.consumed());
    let consumed = it.consumed();
    buf.drain(..consumed);
}

fn run(reads: &[&[u8]]) -> Outcome {
    let mut out = Outcome::default();
    let mut buf = Vec::new();
    for read in reads {
        if out.error.is_some() {
            break; // a real connection is closed here
        }
        buf.extend_from_slice(read);
        drain(&mut buf, &mut out);
    }
    out.leftover = buf;
    out
}

fuzz_target!(|data: &[u8]| {
    // First two bytes choose the split point of the rest.
    let (split, stream) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    let split = split % (stream.len() + 1);
    let (first, second) = stream.split_at(split);

    let whole = run(&[stream]);
    let chunked = run(&[first, second]);

    if whole.error.is_none() {
        assert_eq!(whole, chunked);
    } else {
        // The split read may have stopped earlier (the error sat in the first
        // read), so only the frames and the error must match.
        assert_eq!(whole.frames, chunked.frames);
        assert_eq!(whole.error, chunked.error);
    }
});
