//! Tests of the `frame` module.

use super::*;
use proptest::prelude::*;

const ROTATIONS: [KeyRotation; 3] = [KeyRotation::Unknown, KeyRotation::Odd, KeyRotation::Even];

/// Deterministic body so tests can tell frames apart without storing
/// megabytes of random data in proptest cases.
fn body(size: PacketSize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size.size())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn frame_bytes(header: &FrameHeader, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; header.frame_len()];
    let n = encode_frame(header, body, &mut out).expect("sized exactly");
    assert_eq!(n, out.len());
    out
}

fn all_headers() -> Vec<FrameHeader> {
    let mut v = Vec::new();
    for size in PacketSize::ALL {
        v.push(FrameHeader::v7(size));
        for r in ROTATIONS {
            v.push(FrameHeader::v8(size, r));
        }
    }
    v
}

fn encode_header(h: &FrameHeader) -> Vec<u8> {
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut out).expect("max header fits");
    out[..n].to_vec()
}

#[test]
fn v8_regular_header_bytes() {
    for (r, k) in ROTATIONS.into_iter().zip([0u8, 1, 2]) {
        let h = FrameHeader::v8(PacketSize::Regular, r);
        assert_eq!(encode_header(&h), [8, 1, 0, k]);
        assert_eq!(h.encoded_len(), 4);
        assert_eq!(h.frame_len(), 4 + 2413);
    }
}

#[test]
fn v7_ack_header_bytes() {
    let h = FrameHeader::v7(PacketSize::Ack);
    assert_eq!(encode_header(&h), [7, 2, 0]);
    assert_eq!(h.frame_len(), 3 + 386);
    assert_eq!(decode_header(&[7, 2, 0]), Ok(Some(h)));
}

#[test]
fn every_size_tag_encodes_and_decodes() {
    let tags = [
        (PacketSize::Regular, 1u8),
        (PacketSize::Ack, 2),
        (PacketSize::Extended32, 3),
        (PacketSize::Extended8, 4),
        (PacketSize::Extended16, 5),
    ];
    for (size, tag) in tags {
        let v7 = FrameHeader::v7(size);
        assert_eq!(encode_header(&v7), [7, tag, 0]);
        assert_eq!(decode_header(&[7, tag, 0]), Ok(Some(v7)));
        let v8 = FrameHeader::v8(size, KeyRotation::Even);
        assert_eq!(encode_header(&v8), [8, tag, 0, 2]);
        assert_eq!(decode_header(&[8, tag, 0, 2]), Ok(Some(v8)));
    }
}

#[test]
fn v7_ignores_key_rotation_field_when_encoding() {
    let mut h = FrameHeader::v7(PacketSize::Regular);
    h.key_rotation = KeyRotation::Odd;
    assert_eq!(encode_header(&h), [7, 1, 0]);
}

#[test]
fn rejects_bad_version_on_first_byte() {
    for v in [0u8, 6, 9, 255] {
        assert_eq!(decode_header(&[v]), Err(FrameError::UnknownVersion(v)));
        assert_eq!(
            decode_frame(&[v, 1, 0, 0]),
            Err(FrameError::UnknownVersion(v))
        );
    }
    for v in 0..=u8::MAX {
        let ok = v == 7 || v == 8;
        assert_eq!(decode_header(&[v]).is_ok(), ok, "version {v}");
    }
}

#[test]
fn rejects_bad_size_tag_on_second_byte() {
    for version in [7u8, 8] {
        for tag in [0u8, 6, 255] {
            assert_eq!(
                decode_header(&[version, tag]),
                Err(FrameError::UnknownSizeTag(tag))
            );
            assert_eq!(
                decode_frame(&[version, tag, 0, 0]),
                Err(FrameError::UnknownSizeTag(tag))
            );
        }
    }
}

#[test]
fn rejects_non_sphinx_packet_type_on_third_byte() {
    for version in [7u8, 8] {
        for ty in [1u8, 2, 255] {
            assert_eq!(
                decode_header(&[version, 1, ty]),
                Err(FrameError::UnsupportedPacketType(ty))
            );
        }
    }
}

#[test]
fn rejects_bad_key_rotation_on_fourth_byte() {
    for k in [3u8, 4, 255] {
        assert_eq!(
            decode_header(&[8, 1, 0, k]),
            Err(FrameError::UnknownKeyRotation(k))
        );
    }
    // Version 7 has no rotation byte: a 3 there is the first body byte.
    let mut v7 = vec![7u8, 2, 0, 3];
    v7.resize(3 + 386, 0);
    let frame = decode_frame(&v7).expect("valid").expect("complete");
    assert_eq!(frame.header, FrameHeader::v7(PacketSize::Ack));
    assert_eq!(frame.body.first(), Some(&3));
}

#[test]
fn encode_into_too_small_buffer_fails() {
    let h = FrameHeader::v8(PacketSize::Regular, KeyRotation::Odd);
    let mut out = [0u8; 3];
    assert_eq!(
        h.encode(&mut out),
        Err(FrameError::BufferTooSmall {
            needed: 4,
            available: 3
        })
    );
    let b = body(PacketSize::Regular, 1);
    let mut out = vec![0u8; h.frame_len() - 1];
    assert_eq!(
        encode_frame(&h, &b, &mut out),
        Err(FrameError::BufferTooSmall {
            needed: 2417,
            available: 2416
        })
    );
    let mut out = [0u8; 3];
    assert_eq!(FrameHeader::v7(PacketSize::Ack).encode(&mut out), Ok(3));
}

#[test]
fn encode_frame_rejects_wrong_body_length() {
    let h = FrameHeader::v7(PacketSize::Ack);
    let mut out = vec![0u8; MAX_FRAME_LEN];
    assert_eq!(
        encode_frame(&h, &[0u8; 385], &mut out),
        Err(FrameError::BodyLengthMismatch {
            expected: 386,
            actual: 385
        })
    );
}

#[test]
fn every_split_point_is_incomplete_until_the_end() {
    for (i, h) in all_headers().iter().enumerate() {
        let b = body(h.size, i as u64);
        let bytes = frame_bytes(h, &b);
        for cut in 0..bytes.len() {
            assert_eq!(decode_frame(&bytes[..cut]), Ok(None), "{h:?} cut {cut}");
        }
        let frame = decode_frame(&bytes).expect("valid").expect("complete");
        assert_eq!(frame.header, *h);
        assert_eq!(frame.body, &b[..]);
        assert_eq!(frame.consumed, bytes.len());
        assert_eq!(frame.header_len(), h.encoded_len());
    }
}

#[test]
fn trailing_bytes_are_left_alone() {
    let h = FrameHeader::v8(PacketSize::Ack, KeyRotation::Odd);
    let mut bytes = frame_bytes(&h, &body(h.size, 9));
    bytes.extend_from_slice(&[8, 1]);
    let frame = decode_frame(&bytes).expect("valid").expect("complete");
    assert_eq!(frame.consumed, 4 + 386);
    assert_eq!(&bytes[frame.consumed..], &[8, 1]);
}

#[test]
fn many_frames_decode_in_order() {
    let headers = all_headers();
    let mut stream = Vec::new();
    let mut bodies = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let b = body(h.size, 100 + i as u64);
        stream.extend(frame_bytes(h, &b));
        bodies.push(b);
    }
    // A partial header of the next frame stays as the remainder.
    stream.extend_from_slice(&[8, 3]);

    let mut it = frames(&stream);
    for (h, b) in headers.iter().zip(&bodies) {
        let frame = it.next().expect("frame").expect("valid");
        assert_eq!(frame.header, *h);
        assert_eq!(frame.body, &b[..]);
    }
    assert!(it.next().is_none());
    assert!(it.next().is_none());
    assert!(!it.is_failed());
    assert_eq!(it.consumed(), stream.len() - 2);
    assert_eq!(it.remainder(), &[8, 3]);
}

#[test]
fn iterator_stops_after_first_error() {
    let h = FrameHeader::v7(PacketSize::Ack);
    let mut stream = frame_bytes(&h, &body(h.size, 5));
    let good_len = stream.len();
    stream.extend_from_slice(&[9, 1, 0]);
    stream.extend(frame_bytes(&h, &body(h.size, 6)));

    let mut it = frames(&stream);
    assert!(matches!(it.next(), Some(Ok(_))));
    assert_eq!(it.next(), Some(Err(FrameError::UnknownVersion(9))));
    assert_eq!(it.next(), None);
    assert!(it.is_failed());
    assert_eq!(it.consumed(), good_len);
}

#[test]
fn empty_input_needs_more() {
    assert_eq!(decode_header(&[]), Ok(None));
    assert_eq!(decode_frame(&[]), Ok(None));
    assert_eq!(frames(&[]).next(), None);
    assert_eq!(decode_frame_range(&[], 0), Ok(None));
    assert_eq!(decode_frame_range(&[8], 5), Ok(None));
}

/// The loop a connection task runs: read into a fixed buffer, process
/// complete frames in place by offset, move the partial tail to the front.
#[test]
fn runtime_loop_processes_bodies_in_place() {
    let headers = all_headers();
    let mut wire = Vec::new();
    for h in &headers {
        wire.extend(frame_bytes(h, &vec![0u8; h.size.size()]));
    }

    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let mut filled = 0;
    let mut seen = Vec::new();
    // Each chunk is one "read"; it may not fit the free space at once.
    for mut chunk in wire.chunks(7000) {
        while !chunk.is_empty() {
            let n = chunk.len().min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&chunk[..n]);
            filled += n;
            chunk = &chunk[n..];

            let mut pos = 0;
            while let Some(r) = decode_frame_range(&buf[..filled], pos).expect("valid") {
                for byte in &mut buf[r.body.clone()] {
                    *byte = 0xAA; // stand-in for in-place Sphinx processing
                }
                assert!(buf[r.body.clone()].iter().all(|&b| b == 0xAA));
                assert_eq!(r.frame(), r.start..r.end());
                assert_eq!(r.body.start - r.start, r.header.encoded_len());
                seen.push(r.header);
                pos = r.end();
            }
            buf.copy_within(pos..filled, 0);
            filled -= pos;
        }
    }
    assert_eq!(filled, 0);
    assert_eq!(seen, headers);
}

fn header_strategy() -> impl Strategy<Value = FrameHeader> {
    let size = prop::sample::select(PacketSize::ALL.to_vec());
    let rot = prop::sample::select(ROTATIONS.to_vec());
    (size, rot, any::<bool>()).prop_map(|(s, r, v7)| {
        if v7 {
            FrameHeader::v7(s)
        } else {
            FrameHeader::v8(s, r)
        }
    })
}

/// Decodes `chunks` of `wire` like a socket reader keeping the tail.
fn decode_chunked(
    wire: &[u8],
    chunk_sizes: &[usize],
) -> Result<Vec<(FrameHeader, Vec<u8>)>, FrameError> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut rest = wire;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().expect("non-empty cycle")).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let mut it = frames(&buf);
        for frame in it.by_ref() {
            let frame = frame?;
            out.push((frame.header, frame.body.to_vec()));
        }
        let consumed = it.consumed();
        assert_eq!(it.remainder().len(), buf.len() - consumed);
        buf.drain(..consumed);
    }
    assert!(buf.is_empty(), "leftover {} bytes", buf.len());
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_frame_sequences_round_trip(
        spec in prop::collection::vec((header_strategy(), any::<u64>()), 0..8),
        chunk_sizes in prop::collection::vec(1usize..6000, 1..8),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (h, seed) in &spec {
            let b = body(h.size, *seed);
            wire.extend(frame_bytes(h, &b));
            expected.push((*h, b));
        }

        // Whole buffer at once.
        let mut it = frames(&wire);
        let whole: Vec<_> = it
            .by_ref()
            .map(|f| f.map(|f| (f.header, f.body.to_vec())))
            .collect::<Result<_, _>>()
            .expect("valid stream");
        prop_assert_eq!(it.consumed(), wire.len());
        prop_assert_eq!(&whole, &expected);

        // Random TCP-like chunking.
        let chunked = decode_chunked(&wire, &chunk_sizes).expect("valid stream");
        prop_assert_eq!(&chunked, &expected);

        // Offset API sees the same frames at the right places.
        let mut pos = 0;
        let mut n = 0;
        while let Some(r) = decode_frame_range(&wire, pos).expect("valid") {
            prop_assert_eq!(r.header, expected[n].0);
            prop_assert_eq!(&wire[r.body.clone()], &expected[n].1[..]);
            pos = r.end();
            n += 1;
        }
        prop_assert_eq!(n, expected.len());
        prop_assert_eq!(pos, wire.len());
    }

    /// Random bytes, optionally behind a valid header so that small (ack)
    /// frames can complete and the body path is exercised too. Anything
    /// decoded must re-encode to exactly the bytes it came from.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop::option::of(header_strategy()),
        tail in prop::collection::vec(any::<u8>(), 0..1200),
        start in 0usize..1300,
    ) {
        let mut bytes = prefix.map(|h| encode_header(&h)).unwrap_or_default();
        bytes.extend_from_slice(&tail);
        let _ = decode_header(&bytes);
        let _ = decode_frame(&bytes);
        if let Ok(Some(r)) = decode_frame_range(&bytes, start) {
            prop_assert!(r.end() <= bytes.len());
            prop_assert_eq!(r.body.len(), r.header.size.size());
        }
        let mut it = frames(&bytes);
        let mut pos = 0;
        for f in it.by_ref() {
            let Ok(f) = f else { break };
            let re = frame_bytes(&f.header, f.body);
            prop_assert_eq!(&re[..], &bytes[pos..pos + f.consumed]);
            pos += f.consumed;
        }
        prop_assert_eq!(it.consumed(), pos);
        prop_assert_eq!(it.remainder(), &bytes[pos..]);
    }

    /// Valid streams with one corrupted byte: exercises deep paths that
    /// purely random bytes rarely reach. Whatever decodes must re-encode
    /// to exactly the bytes it came from.
    #[test]
    fn corrupted_streams_never_panic_and_reencode(
        spec in prop::collection::vec((header_strategy(), any::<u64>()), 1..4),
        flip in any::<prop::sample::Index>(),
        value in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = Vec::new();
        for (h, seed) in &spec {
            wire.extend(frame_bytes(h, &body(h.size, *seed)));
        }
        let i = flip.index(wire.len());
        wire[i] = value;
        let wire = &wire[..cut.index(wire.len() + 1)];

        let mut it = frames(wire);
        let mut pos = 0;
        for f in it.by_ref() {
            let Ok(f) = f else { break };
            let re = frame_bytes(&f.header, f.body);
            prop_assert_eq!(&re[..], &wire[pos..pos + f.consumed]);
            pos += f.consumed;
        }
        prop_assert_eq!(it.consumed(), pos);
    }
}
