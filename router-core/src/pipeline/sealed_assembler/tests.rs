use proptest::prelude::*;

use super::*;
use crate::noise::linked_transports;
use crate::noise::transport::OVERHEAD;
use crate::wire::{encode_frame, FrameHeader, KeyRotation, PacketSize};

/// One frame of `header` whose packet bytes start at `fill`.
fn frame(header: FrameHeader, fill: u8) -> Vec<u8> {
    let body: Vec<u8> = (0..header.size.size())
        .map(|i| fill.wrapping_add(i as u8))
        .collect();
    let mut out = vec![0u8; header.frame_len()];
    encode_frame(&header, &body, &mut out).unwrap();
    out
}

/// `frame` sealed as one Noise transport message by `sender`.
fn sealed(sender: &mut Transport, frame: &[u8]) -> Vec<u8> {
    let mut message = vec![0u8; frame.len() + OVERHEAD];
    message[HEADER_LEN..HEADER_LEN + frame.len()].copy_from_slice(frame);
    sender.seal(&mut message).unwrap();
    message
}

/// Feeds `stream` as `recvmsg` would, each read at most `chunk` bytes over the targets.
fn feed(
    receiver: Transport,
    stream: &[u8],
    chunk: usize,
    pool: &mut BufferPool,
) -> (Vec<ReceivedFrame>, SealedAssembler, Result<(), LinkError>) {
    let mut assembler = SealedAssembler::new(receiver, 5);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut reads = 0u64;
    while pos < stream.len() {
        reads += 1;
        assembler.prepare(pool);
        let written = assembler.with_read_targets(|targets| {
            let mut written = 0;
            for target in targets.iter_mut() {
                let left = (stream.len() - pos - written).min(chunk - written);
                let n = left.min(target.len());
                target[..n].copy_from_slice(&stream[pos + written..pos + written + n]);
                written += n;
                if written == chunk || pos + written == stream.len() {
                    break;
                }
            }
            written
        });
        pos += written;
        if let Err(error) = assembler.commit(written, Timestamp::from_millis(reads), pool, &mut out)
        {
            return (out, assembler, Err(error));
        }
    }
    (out, assembler, Ok(()))
}

fn regular(fill: u8) -> Vec<u8> {
    frame(
        FrameHeader::v8(PacketSize::Regular, KeyRotation::Even),
        fill,
    )
}

#[test]
fn uniform_frames_are_decrypted_where_they_were_received() {
    let regular_message = NOISE_FRONT + 4 + 2413 + NOISE_BACK;
    for chunk in [
        1,
        7,
        8,
        9,
        2000,
        regular_message - 1,
        regular_message,
        regular_message + 1,
        1 << 20,
    ] {
        let (mut sender, receiver) = linked_transports();
        let frames: Vec<Vec<u8>> = (0..40).map(regular).collect();
        let stream: Vec<u8> = frames.iter().flat_map(|f| sealed(&mut sender, f)).collect();
        let mut pool = BufferPool::new(1 << 24);
        let (out, assembler, result) = feed(receiver, &stream, chunk, &mut pool);
        result.unwrap();
        assert_eq!(out.len(), 40, "chunk {chunk}");
        for (received, sent) in out.iter().zip(&frames) {
            assert_eq!(received.buf.frame(4), &sent[..], "chunk {chunk}");
            assert_eq!(received.source, 5);
        }
        assert_eq!(assembler.copied_bytes(), 0, "chunk {chunk}: never copied");
        assert!(!assembler.has_partial_frame());
    }
}

#[test]
fn a_change_of_shape_is_copied_once_and_read_in_place_after() {
    let (mut sender, receiver) = linked_transports();
    let mut frames = vec![regular(1), regular(2)];
    frames.push(frame(FrameHeader::v8(PacketSize::Ack, KeyRotation::Odd), 3));
    for i in 0..10 {
        frames.push(frame(FrameHeader::v7(PacketSize::Ack), 4 + i));
    }
    frames.push(regular(20));
    let stream: Vec<u8> = frames.iter().flat_map(|f| sealed(&mut sender, f)).collect();
    let mut pool = BufferPool::new(1 << 24);
    let (out, assembler, result) = feed(receiver, &stream, 3000, &mut pool);
    result.unwrap();
    let got: Vec<&[u8]> = out
        .iter()
        .map(|f| f.buf.frame(f.header.version.header_len()))
        .collect();
    let want: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    assert_eq!(got, want);
    assert!(assembler.copied_bytes() > 0, "a misprediction is a copy");
    assert!(
        assembler.copied_bytes() < stream.len() as u64 / 2,
        "only around the changes: {} of {}",
        assembler.copied_bytes(),
        stream.len()
    );
}

/// Gives back every buffer a fed stream left out, so the pool shows what leaked.
fn settle(pool: &mut BufferPool, out: Vec<ReceivedFrame>, mut assembler: SealedAssembler) {
    for frame in out {
        pool.give(frame.buf);
    }
    assembler.release(pool);
}

#[test]
fn a_flipped_byte_a_replay_and_a_foreign_length_end_the_link() {
    let mut pool = BufferPool::new(1 << 24);
    // A flipped ciphertext byte in the second message.
    let (mut sender, receiver) = linked_transports();
    let mut stream: Vec<u8> = (0..3)
        .flat_map(|i| sealed(&mut sender, &regular(i)))
        .collect();
    let second = NOISE_FRONT + 4 + 2413 + NOISE_BACK;
    stream[second + 100] ^= 1;
    let (out, assembler, result) = feed(receiver, &stream, 1 << 20, &mut pool);
    assert_eq!(out.len(), 1);
    assert_eq!(result, Err(LinkError::Noise(NoiseError::BadTag)));
    assert_eq!(result.unwrap_err().label(), "bad_tag");
    settle(&mut pool, out, assembler);

    // The first message sent twice.
    let (mut sender, receiver) = linked_transports();
    let once = sealed(&mut sender, &regular(1));
    let stream = [once.clone(), once].concat();
    let (out, assembler, result) = feed(receiver, &stream, 1 << 20, &mut pool);
    assert_eq!(
        (out.len(), result),
        (1, Err(LinkError::Noise(NoiseError::BadTag)))
    );
    settle(&mut pool, out, assembler);

    // A message that is not one frame long (a stream split anywhere).
    let (mut sender, receiver) = linked_transports();
    let stream = sealed(&mut sender, &regular(1)[..1000]);
    let (out, assembler, result) = feed(receiver, &stream, 1 << 20, &mut pool);
    assert_eq!(
        (out.len(), result),
        (0, Err(LinkError::Unaligned(1000 + OVERHEAD)))
    );
    settle(&mut pool, out, assembler);

    // A message of a frame's length whose plaintext is no frame of that shape.
    let (mut sender, receiver) = linked_transports();
    let mut bogus = regular(1);
    bogus[0] = 7;
    let stream = sealed(&mut sender, &bogus);
    let (out, assembler, result) = feed(receiver, &stream, 1 << 20, &mut pool);
    assert_eq!(out.len(), 0);
    assert_eq!(result.unwrap_err().label(), "bad_frame");
    settle(&mut pool, out, assembler);

    // A handshake message after the handshake.
    let (_, receiver) = linked_transports();
    let mut stream = Header::encode(MessageType::Handshake, 48).to_vec();
    stream.extend([0u8; 48]);
    let (out, assembler, result) = feed(receiver, &stream, 1 << 20, &mut pool);
    assert_eq!(result.unwrap_err().label(), "unexpected_message");
    settle(&mut pool, out, assembler);
    assert_eq!(pool.outstanding_bytes(), 0, "no buffer leaked on a failure");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any mix of shapes, through any read sizes, arrives whole and in order.
    #[test]
    fn any_mix_of_shapes_arrives_in_order(
        shapes in proptest::collection::vec(0usize..4, 1..24),
        chunk in 1usize..9000,
    ) {
        let (mut sender, receiver) = linked_transports();
        let frames: Vec<Vec<u8>> = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let header = match shape {
                    0 => FrameHeader::v8(PacketSize::Regular, KeyRotation::Odd),
                    1 => FrameHeader::v8(PacketSize::Ack, KeyRotation::Even),
                    2 => FrameHeader::v7(PacketSize::Regular),
                    _ => FrameHeader::v8(PacketSize::Extended8, KeyRotation::Unknown),
                };
                frame(header, i as u8)
            })
            .collect();
        let stream: Vec<u8> = frames.iter().flat_map(|f| sealed(&mut sender, f)).collect();
        let mut pool = BufferPool::new(1 << 26);
        let (out, mut assembler, result) = feed(receiver, &stream, chunk, &mut pool);
        prop_assert_eq!(result, Ok(()));
        let got: Vec<&[u8]> = out.iter().map(|f| f.buf.frame(f.header.version.header_len())).collect();
        let want: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(got, want);
        for frame in out {
            pool.give(frame.buf);
        }
        assembler.release(&mut pool);
        prop_assert_eq!(pool.outstanding_bytes(), 0);
    }
}

#[test]
fn every_failure_label_is_a_counted_reason() {
    use crate::pipeline::LINK_FAILURE_REASONS;
    let errors = [
        LinkError::Noise(NoiseError::UnknownVersion(0)),
        LinkError::Noise(NoiseError::UnexpectedMessage {
            got: "",
            expected: "",
        }),
        LinkError::Noise(NoiseError::HandshakeLength {
            step: 1,
            got: 0,
            expected: 0,
        }),
        LinkError::Noise(NoiseError::HandshakeFailed { step: 1 }),
        LinkError::Noise(NoiseError::BadTag),
        LinkError::Noise(NoiseError::BadLength(0)),
        LinkError::Noise(NoiseError::NoncesExhausted),
        LinkError::Frame(FrameError::UnknownVersion(0)),
        LinkError::FrameLength(0),
        LinkError::Unaligned(0),
    ];
    for error in errors {
        assert!(LINK_FAILURE_REASONS.contains(&error.label()), "{error}");
    }
}
