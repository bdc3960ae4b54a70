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
mod tests;
