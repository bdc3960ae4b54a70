use proptest::prelude::*;

use super::*;
use crate::wire::{encode_frame, KeyRotation};

/// Feeds `stream` to the assembler the way `recvmsg` would: each read delivers at most
/// `chunk` bytes, scattered over the offered targets in order. Read `n` (from 1) happens at
/// `n` ms.
fn feed(
    stream: &[u8],
    chunks: &[usize],
    pool: &mut BufferPool,
) -> (Vec<ReceivedFrame>, FrameAssembler, Result<(), FrameError>) {
    let mut assembler = FrameAssembler::with_source(7);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut chunk_index = 0;
    while pos < stream.len() {
        let limit = chunks[chunk_index % chunks.len()].max(1);
        chunk_index += 1;
        assembler.prepare(pool);
        let written = assembler.with_read_targets(|targets| {
            let mut written = 0;
            for target in targets.iter_mut() {
                let left = (stream.len() - pos - written).min(limit - written);
                let n = left.min(target.len());
                target[..n].copy_from_slice(&stream[pos + written..pos + written + n]);
                written += n;
                if written == limit || pos + written == stream.len() {
                    break;
                }
            }
            written
        });
        pos += written;
        let now = Timestamp::from_millis(chunk_index as u64);
        if let Err(error) = assembler.commit(written, now, pool, &mut out) {
            return (out, assembler, Err(error));
        }
    }
    (out, assembler, Ok(()))
}

#[test]
fn every_frame_names_its_connection_across_a_change_of_shape() {
    let mut pool = BufferPool::new(1 << 22);
    let mut stream = frame(FrameHeader::v8(PacketSize::Regular, KeyRotation::Odd), 1);
    stream.extend(frame(FrameHeader::v7(PacketSize::Ack), 2));
    let (frames, _, result) = feed(&stream, &[100], &mut pool);
    result.unwrap();
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f.source == 7));
}

fn frame(header: FrameHeader, fill: u8) -> Vec<u8> {
    let body: Vec<u8> = (0..header.size.size())
        .map(|i| fill.wrapping_add(i as u8))
        .collect();
    let mut out = vec![0u8; header.frame_len()];
    encode_frame(&header, &body, &mut out).unwrap();
    out
}

fn header_strategy() -> impl Strategy<Value = FrameHeader> {
    let size = prop::sample::select(PacketSize::ALL.to_vec());
    (any::<bool>(), size, 0u8..3).prop_map(|(v7, size, rotation)| {
        if v7 {
            FrameHeader::v7(size)
        } else {
            FrameHeader::v8(size, KeyRotation::from_byte(rotation).unwrap())
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_mix_of_frames_and_read_sizes_comes_out_intact(
        headers in prop::collection::vec(header_strategy(), 1..12),
        chunks in prop::collection::vec(1usize..40_000, 1..8),
    ) {
        let frames: Vec<Vec<u8>> =
            headers.iter().enumerate().map(|(i, h)| frame(*h, i as u8)).collect();
        let stream = frames.concat();
        let mut pool = BufferPool::new(1 << 30);
        let (out, mut assembler, result) = feed(&stream, &chunks, &mut pool);
        prop_assert!(result.is_ok());
        prop_assert_eq!(out.len(), frames.len());
        for ((got, header), bytes) in out.iter().zip(&headers).zip(&frames) {
            prop_assert_eq!(&got.header, header);
            prop_assert_eq!(got.buf.frame(header.encoded_len()), &bytes[..]);
        }
        prop_assert!(!assembler.has_partial_frame());
        assembler.release(&mut pool);
        for frame in out {
            pool.give(frame.buf);
        }
        prop_assert_eq!(pool.outstanding_bytes(), 0);
    }

    #[test]
    fn frames_of_one_shape_are_never_copied(
        v7 in any::<bool>(),
        size in prop::sample::select(PacketSize::ALL.to_vec()),
        count in 1usize..80,
        chunks in prop::collection::vec(1usize..100_000, 1..8),
    ) {
        let header = if v7 {
            FrameHeader::v7(size)
        } else {
            FrameHeader::v8(size, KeyRotation::Odd)
        };
        let stream: Vec<u8> = (0..count).flat_map(|i| frame(header, i as u8)).collect();
        let mut pool = BufferPool::new(1 << 30);
        let (out, assembler, result) = feed(&stream, &chunks, &mut pool);
        prop_assert!(result.is_ok());
        prop_assert_eq!(out.len(), count);
        // The first frame may arrive against the initial (v8 regular) prediction; after that
        // the prediction holds and nothing is copied.
        let first_frame = header.frame_len() as u64;
        if v7 || size != PacketSize::Regular {
            prop_assert!(assembler.copied_bytes() <= 2 * first_frame * MAX_READ_FRAMES as u64);
        } else {
            prop_assert_eq!(assembler.copied_bytes(), 0);
        }
    }
}

#[test]
fn after_the_first_read_uniform_traffic_is_not_copied() {
    let header = FrameHeader::v7(PacketSize::Ack);
    let stream: Vec<u8> = (0..200).flat_map(|i| frame(header, i as u8)).collect();
    let mut pool = BufferPool::new(1 << 30);
    let mut assembler = FrameAssembler::new();
    let mut out = Vec::new();
    // First read: one partial frame, against the wrong (v8 regular) prediction.
    assembler.prepare(&mut pool);
    let first = assembler.with_read_targets(|targets| {
        targets[0][..10].copy_from_slice(&stream[..10]);
        10
    });
    assembler
        .commit(first, Timestamp::ZERO, &mut pool, &mut out)
        .unwrap();
    let copied_after_first = assembler.copied_bytes();
    // Copied twice, into the spill buffer and out of it into a buffer of the right class.
    assert_eq!(copied_after_first, 20);
    let mut pos = first;
    while pos < stream.len() {
        assembler.prepare(&mut pool);
        let n = assembler.with_read_targets(|targets| {
            let mut n = 0;
            for t in targets.iter_mut() {
                let k = t.len().min(stream.len() - pos - n);
                t[..k].copy_from_slice(&stream[pos + n..pos + n + k]);
                n += k;
            }
            n
        });
        pos += n;
        assembler
            .commit(n, Timestamp::ZERO, &mut pool, &mut out)
            .unwrap();
    }
    assert_eq!(out.len(), 200);
    assert_eq!(assembler.copied_bytes(), copied_after_first);
}

#[test]
fn each_frame_carries_the_time_of_the_read_that_completed_it() {
    let header = FrameHeader::v8(PacketSize::Regular, KeyRotation::Even);
    let len = header.frame_len();
    let stream: Vec<u8> = (0..5).flat_map(|i| frame(header, i)).collect();
    let mut pool = BufferPool::new(1 << 30);
    let mut assembler = FrameAssembler::new();
    let mut out = Vec::new();
    // Reads of at most 2/3 of a frame, read `n` at `n` ms; `ends[n]`: bytes read by then.
    let mut ends = vec![0];
    while ends.last() < Some(&stream.len()) {
        let pos = ends.last().copied().unwrap_or_default();
        assembler.prepare(&mut pool);
        let n = assembler.with_read_targets(|targets| {
            let mut n = 0;
            for t in targets.iter_mut() {
                let k = t.len().min(stream.len() - pos - n).min(len * 2 / 3 - n);
                t[..k].copy_from_slice(&stream[pos + n..pos + n + k]);
                n += k;
            }
            n
        });
        let now = Timestamp::from_millis(ends.len() as u64);
        assembler.commit(n, now, &mut pool, &mut out).unwrap();
        ends.push(pos + n);
    }
    // Frame i is complete in the first read whose end reaches (i + 1) * len.
    let expected: Vec<_> = (1..=5)
        .map(|i| {
            let read = ends.iter().position(|end| *end >= i * len).unwrap();
            Timestamp::from_millis(read as u64)
        })
        .collect();
    let arrived: Vec<_> = out.iter().map(|f| f.arrived).collect();
    assert_eq!(arrived, expected);
    assert!(
        expected.windows(2).any(|w| w[0] != w[1]),
        "reads complete different frames"
    );
}

#[test]
fn a_bad_header_byte_is_fatal_and_reported() {
    let mut stream = frame(FrameHeader::v8(PacketSize::Regular, KeyRotation::Even), 1);
    let mut bad = frame(FrameHeader::v8(PacketSize::Regular, KeyRotation::Even), 2);
    bad[1] = 9; // unknown size tag
    stream.extend_from_slice(&bad);
    let mut pool = BufferPool::new(1 << 30);
    let (out, _, result) = feed(&stream, &[100_000], &mut pool);
    assert_eq!(out.len(), 1, "the frame before the bad one is delivered");
    assert_eq!(result, Err(FrameError::UnknownSizeTag(9)));

    for garbage in [[6u8, 1, 0, 0], [8, 1, 1, 0], [8, 1, 0, 7]] {
        let (out, _, result) = feed(&garbage, &[1], &mut pool);
        assert!(out.is_empty());
        assert!(result.is_err(), "{garbage:?} must be refused");
    }
}

#[test]
fn an_exhausted_pool_limits_reads_to_one_frame() {
    let mut pool = BufferPool::new(1);
    let _hold = pool.take(PacketSize::Regular);
    let mut assembler = FrameAssembler::new();
    assembler.want = MAX_READ_FRAMES;
    assembler.prepare(&mut pool);
    assert_eq!(assembler.held_buffers(), 1);
}
