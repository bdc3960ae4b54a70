//! Node-to-node TCP framing, byte-compatible with Nym's packet codec.
//!
//! See the [module docs](super) for the byte layout. Everything here is
//! allocation-free and panic-free on untrusted input: decoding only borrows
//! from (or returns offsets into) the caller's buffer.
//!
//! # Why errors are fatal
//!
//! A frame has no length prefix and no sync marker; the body length is implied
//! by the size tag. Once any header byte is invalid the receiver can no longer
//! tell where the next frame starts, so **every [`FrameError`] returned while
//! decoding means the connection must be closed**. [`Frames`] enforces this by
//! yielding nothing after its first error.

use core::iter::FusedIterator;
use core::ops::Range;

use super::packet_size::{PacketSize, MAX_PACKET_SIZE};

/// Header length of framing version 7 (no key-rotation byte).
pub const MIN_HEADER_LEN: usize = 3;

/// Header length of framing version 8, the longest header.
pub const MAX_HEADER_LEN: usize = 4;

/// Longest possible frame. A connection read buffer of at least this many
/// bytes is guaranteed to make progress: any partial frame kept at the front
/// of the buffer still leaves room for the rest of it.
pub const MAX_FRAME_LEN: usize = MAX_HEADER_LEN + MAX_PACKET_SIZE;

/// Everything that can go wrong while encoding or decoding a frame.
///
/// The decode variants carry the offending byte so logs show what a peer
/// actually sent.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Byte 0 is not a framing version we speak (7 or 8).
    #[error("unknown framing version {0} (supported: 7, 8)")]
    UnknownVersion(u8),
    /// Byte 1 is not one of the five packet-size tags.
    #[error("unknown packet size tag {0} (expected 1..=5)")]
    UnknownSizeTag(u8),
    /// Byte 2 names a packet type this router does not process (e.g. 1 is
    /// Nym's Outfox). Only Sphinx (0) is supported.
    #[error("unsupported packet type {0} (only Sphinx, type 0, is supported)")]
    UnsupportedPacketType(u8),
    /// Byte 3 of a version-8 header is not a known key-rotation hint.
    #[error("unknown key rotation hint {0} (expected 0, 1 or 2)")]
    UnknownKeyRotation(u8),
    /// The output buffer given to an encoder is too short.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the encoder needs to write.
        needed: usize,
        /// Length of the buffer it was given.
        available: usize,
    },
    /// [`encode_frame`] was given a body whose length differs from the size
    /// its header announces; sending it would desynchronise the peer.
    #[error("body is {actual} bytes but its size tag requires {expected}")]
    BodyLengthMismatch {
        /// Length required by the header's size tag.
        expected: usize,
        /// Length of the body supplied.
        actual: usize,
    },
}

/// Framing version, header byte 0.
///
/// Version 8 added the key-rotation byte. Older versions (and anything newer
/// than we know) are rejected: we cannot know their header length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FramingVersion {
    /// Legacy 3-byte header: version, size tag, packet type.
    V7,
    /// Current 4-byte header: version, size tag, packet type, key rotation.
    V8,
}

impl FramingVersion {
    /// The version new outgoing frames should use.
    pub const LATEST: FramingVersion = FramingVersion::V8;

    /// Wire value.
    pub const fn as_byte(self) -> u8 {
        match self {
            FramingVersion::V7 => 7,
            FramingVersion::V8 => 8,
        }
    }

    /// Parses byte 0 of a frame header.
    pub const fn from_byte(byte: u8) -> Result<Self, FrameError> {
        match byte {
            7 => Ok(FramingVersion::V7),
            8 => Ok(FramingVersion::V8),
            other => Err(FrameError::UnknownVersion(other)),
        }
    }

    /// Length of a frame header in this version.
    pub const fn header_len(self) -> usize {
        match self {
            FramingVersion::V7 => MIN_HEADER_LEN,
            FramingVersion::V8 => MAX_HEADER_LEN,
        }
    }
}

/// Packet type, header byte 2.
///
/// Non-exhaustive because Nym defines further types (Outfox = 1) that a later
/// version of this router may choose to support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketType {
    /// A Sphinx mix packet (wire value 0).
    Mix,
}

impl PacketType {
    /// Wire value.
    pub const fn as_byte(self) -> u8 {
        match self {
            PacketType::Mix => 0,
        }
    }

    /// Parses byte 2 of a frame header; every non-Sphinx type is rejected
    /// because its body format (and so our processing) is unknown.
    pub const fn from_byte(byte: u8) -> Result<Self, FrameError> {
        match byte {
            0 => Ok(PacketType::Mix),
            other => Err(FrameError::UnsupportedPacketType(other)),
        }
    }
}

/// Key-rotation hint, header byte 3 (version 8 only).
///
/// Tells the receiving node which of its two live Sphinx keys (odd or even
/// rotation epoch) the sender used, so it can skip trial decryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRotation {
    /// Sender did not say (always the case for version-7 frames).
    Unknown,
    /// Encrypted to the key of an odd rotation epoch.
    Odd,
    /// Encrypted to the key of an even rotation epoch.
    Even,
}

impl KeyRotation {
    /// Wire value.
    pub const fn as_byte(self) -> u8 {
        match self {
            KeyRotation::Unknown => 0,
            KeyRotation::Odd => 1,
            KeyRotation::Even => 2,
        }
    }

    /// Parses byte 3 of a version-8 header.
    pub const fn from_byte(byte: u8) -> Result<Self, FrameError> {
        match byte {
            0 => Ok(KeyRotation::Unknown),
            1 => Ok(KeyRotation::Odd),
            2 => Ok(KeyRotation::Even),
            other => Err(FrameError::UnknownKeyRotation(other)),
        }
    }
}

/// A decoded (or to-be-encoded) frame header.
///
/// For [`FramingVersion::V7`] the key rotation is not transmitted: decoding
/// always yields [`KeyRotation::Unknown`] and encoding ignores the field. Use
/// [`FrameHeader::v7`] / [`FrameHeader::v8`] to build consistent headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Framing version (decides the header length).
    pub version: FramingVersion,
    /// Packet size class; the body is exactly `size.size()` bytes.
    pub size: PacketSize,
    /// Packet type (always [`PacketType::Mix`] today).
    pub packet_type: PacketType,
    /// Key-rotation hint; always `Unknown` for version 7.
    pub key_rotation: KeyRotation,
}

impl FrameHeader {
    /// Legacy 3-byte-header Sphinx frame.
    pub const fn v7(size: PacketSize) -> Self {
        FrameHeader {
            version: FramingVersion::V7,
            size,
            packet_type: PacketType::Mix,
            key_rotation: KeyRotation::Unknown,
        }
    }

    /// Current 4-byte-header Sphinx frame.
    pub const fn v8(size: PacketSize, key_rotation: KeyRotation) -> Self {
        FrameHeader {
            version: FramingVersion::V8,
            size,
            packet_type: PacketType::Mix,
            key_rotation,
        }
    }

    /// Bytes [`FrameHeader::encode`] writes (3 or 4).
    pub const fn encoded_len(&self) -> usize {
        self.version.header_len()
    }

    /// Whole frame length on the wire: header plus body.
    pub const fn frame_len(&self) -> usize {
        self.encoded_len() + self.size.size()
    }

    /// Writes the header to the start of `out` and returns how many bytes
    /// were written. A `[u8; MAX_HEADER_LEN]` is always large enough.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, FrameError> {
        let full = [
            self.version.as_byte(),
            self.size.tag(),
            self.packet_type.as_byte(),
            self.key_rotation.as_byte(),
        ];
        let n = self.encoded_len();
        let available = out.len();
        // `n <= MAX_HEADER_LEN == full.len()`, so `get` only fails when `out`
        // is too short.
        match (out.get_mut(..n), full.get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                Ok(n)
            }
            _ => Err(FrameError::BufferTooSmall {
                needed: n,
                available,
            }),
        }
    }
}

/// One complete frame borrowed from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The parsed header.
    pub header: FrameHeader,
    /// The whole Sphinx packet: exactly `header.size.size()` bytes.
    pub body: &'a [u8],
    /// Bytes this frame occupied at the front of the input
    /// (`header_len() + body.len()`, i.e. `header.frame_len()`).
    pub consumed: usize,
}

impl Frame<'_> {
    /// Length of the header in front of [`Frame::body`].
    pub const fn header_len(&self) -> usize {
        self.header.encoded_len()
    }

    /// Offsets of this frame if it started at `start` in some larger buffer;
    /// lets a caller re-borrow that buffer mutably to work on the body.
    /// `start` must be a real buffer offset (so `start + consumed` cannot
    /// overflow); [`decode_frame_range`] guarantees this.
    pub const fn range_at(&self, start: usize) -> FrameRange {
        FrameRange {
            header: self.header,
            start,
            body: start + self.header_len()..start + self.consumed,
        }
    }
}

/// A complete frame located by offsets rather than by borrow, so the caller
/// can mutate `buf[body]` in place (e.g. Sphinx-process the packet) while
/// still owning the buffer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameRange {
    /// The parsed header.
    pub header: FrameHeader,
    /// Offset of the frame's first header byte.
    pub start: usize,
    /// Offsets of the body (the Sphinx packet); `body.end` is the frame end.
    pub body: Range<usize>,
}

impl FrameRange {
    /// Offset just past this frame, where the next frame starts.
    pub const fn end(&self) -> usize {
        self.body.end
    }

    /// Offsets of the whole frame, header included.
    pub const fn frame(&self) -> Range<usize> {
        self.start..self.body.end
    }
}

/// Parses a frame header from the front of `buf`.
///
/// Returns `Ok(None)` while `buf` is a valid *prefix* of a header. Each byte
/// is validated as soon as it is present, so a bad peer is detected after a
/// single byte rather than after a whole (up to 33 KB) frame's worth.
pub fn decode_header(buf: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    let version = FramingVersion::from_byte(version)?;
    let Some(&tag) = buf.get(1) else {
        return Ok(None);
    };
    let size = PacketSize::from_tag(tag)?;
    let Some(&packet_type) = buf.get(2) else {
        return Ok(None);
    };
    let packet_type = PacketType::from_byte(packet_type)?;
    let key_rotation = match version {
        FramingVersion::V7 => KeyRotation::Unknown,
        FramingVersion::V8 => {
            let Some(&rotation) = buf.get(3) else {
                return Ok(None);
            };
            KeyRotation::from_byte(rotation)?
        }
    };
    Ok(Some(FrameHeader {
        version,
        size,
        packet_type,
        key_rotation,
    }))
}

/// Decodes one frame from the front of `buf`.
///
/// * `Ok(Some(frame))` — a complete frame; bytes after `frame.consumed` are
///   untouched and belong to the next frame.
/// * `Ok(None)` — `buf` is a valid prefix of a frame (possibly empty or a
///   partial header); read more bytes and retry.
/// * `Err(_)` — the stream is corrupt; close the connection.
pub fn decode_frame(buf: &[u8]) -> Result<Option<Frame<'_>>, FrameError> {
    let Some(header) = decode_header(buf)? else {
        return Ok(None);
    };
    let consumed = header.frame_len();
    Ok(buf.get(header.encoded_len()..consumed).map(|body| Frame {
        header,
        body,
        consumed,
    }))
}

/// Decodes the frame starting at offset `start` of `buf`, returning offsets
/// into `buf` instead of a borrow.
///
/// This is the in-place runtime loop: no borrow of `buf` outlives the call,
/// so the caller can mutate the body right away and continue at
/// [`FrameRange::end`]. A `start` past the end of `buf` is treated like an
/// empty tail (`Ok(None)`).
pub fn decode_frame_range(buf: &[u8], start: usize) -> Result<Option<FrameRange>, FrameError> {
    let Some(tail) = buf.get(start..) else {
        return Ok(None);
    };
    Ok(decode_frame(tail)?.map(|frame| frame.range_at(start)))
}

/// Writes `header` followed by `body` into `out`, returning the frame length.
///
/// Refuses a body whose length does not match the header's size tag: the
/// peer would otherwise misparse every later frame on the connection.
pub fn encode_frame(
    header: &FrameHeader,
    body: &[u8],
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let expected = header.size.size();
    if body.len() != expected {
        return Err(FrameError::BodyLengthMismatch {
            expected,
            actual: body.len(),
        });
    }
    let needed = header.frame_len();
    let available = out.len();
    let too_small = FrameError::BufferTooSmall { needed, available };
    let out = out.get_mut(..needed).ok_or(too_small)?;
    let header_len = header.encode(out)?;
    out.get_mut(header_len..)
        .ok_or(too_small)?
        .copy_from_slice(body);
    Ok(needed)
}

/// Iterates over the complete frames at the front of `buf` without copying.
pub fn frames(buf: &[u8]) -> Frames<'_> {
    Frames {
        buf,
        pos: 0,
        failed: false,
    }
}

/// Zero-copy iterator over consecutive frames in one buffer; see [`frames`].
///
/// It stops (returns `None`) at the first incomplete frame; afterwards
/// [`Frames::consumed`] is the number of bytes of complete frames and
/// [`Frames::remainder`] is the partial frame to keep for the next read.
/// On a corrupt frame it yields one `Err` and then nothing more; `consumed`
/// then points at the start of the corrupt frame and the connection must be
/// closed.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    /// Offset of the next undecoded frame. Invariant: `pos <= buf.len()`,
    /// because it only ever advances by a frame that fit inside `buf`.
    pos: usize,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// Bytes taken by the complete frames yielded so far.
    pub const fn consumed(&self) -> usize {
        self.pos
    }

    /// Bytes after the frames yielded so far: once the iterator returned
    /// `None` without error this is a valid prefix of the next frame.
    pub fn remainder(&self) -> &'a [u8] {
        // `pos <= buf.len()` (see the field), so the fallback is never used.
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Whether a [`FrameError`] was yielded (the stream is unusable).
    pub const fn is_failed(&self) -> bool {
        self.failed
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match decode_frame(self.remainder()) {
            Ok(Some(frame)) => {
                self.pos += frame.consumed;
                Some(Ok(frame))
            }
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

// After `None` the state is unchanged (incomplete tail) or `failed` is set,
// so further calls keep returning `None`.
impl FusedIterator for Frames<'_> {}

#[cfg(test)]
mod tests {
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
}
