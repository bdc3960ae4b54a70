//! Sphinx packet sizes and their one-byte wire tags.
//!
//! Nym's framing carries no length prefix: the size tag in the frame header
//! is the *only* thing that tells a receiver how many body bytes follow. Every
//! size here is therefore a compatibility constant — changing one silently
//! desynchronises the stream with real Nym nodes.

use super::frame::FrameError;

/// Bytes of the Sphinx header (routing info, MAC, group element) that precede
/// the payload in every packet, whatever its size class.
pub const SPHINX_HEADER_SIZE: usize = 348;

/// Bytes a Sphinx payload adds on top of the plaintext it carries (its
/// integrity marker and padding delimiter), so `payload = plaintext + 17`.
pub const PAYLOAD_OVERHEAD: usize = 17;

/// Largest whole packet any size tag can announce; a read buffer at least
/// this big (plus [`super::frame::MAX_HEADER_LEN`]) always fits one frame.
pub const MAX_PACKET_SIZE: usize = PacketSize::Extended32.size();

/// The size classes a Sphinx packet may have on the Nym wire.
///
/// The discriminant order is declaration order and carries no meaning; the
/// wire value is [`PacketSize::tag`], which is *not* ordered by size
/// (extended32 was assigned before extended8/16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketSize {
    /// Ordinary mix traffic: 2048 bytes of plaintext.
    Regular,
    /// SURB acknowledgements: the smallest packets on the network.
    Ack,
    /// 8 KiB plaintext.
    Extended8,
    /// 16 KiB plaintext.
    Extended16,
    /// 32 KiB plaintext.
    Extended32,
}

impl PacketSize {
    /// Every size class, for exhaustive tests and for building lookup tables.
    pub const ALL: [PacketSize; 5] = [
        PacketSize::Regular,
        PacketSize::Ack,
        PacketSize::Extended8,
        PacketSize::Extended16,
        PacketSize::Extended32,
    ];

    /// The byte that announces this size in a frame header (byte 1).
    pub const fn tag(self) -> u8 {
        match self {
            PacketSize::Regular => 1,
            PacketSize::Ack => 2,
            PacketSize::Extended32 => 3,
            PacketSize::Extended8 => 4,
            PacketSize::Extended16 => 5,
        }
    }

    /// Parses a size tag. Unknown tags are an error rather than a guess
    /// because without a length prefix a wrong size would corrupt every
    /// following frame on the connection.
    pub const fn from_tag(tag: u8) -> Result<Self, FrameError> {
        match tag {
            1 => Ok(PacketSize::Regular),
            2 => Ok(PacketSize::Ack),
            3 => Ok(PacketSize::Extended32),
            4 => Ok(PacketSize::Extended8),
            5 => Ok(PacketSize::Extended16),
            other => Err(FrameError::UnknownSizeTag(other)),
        }
    }

    /// Whole Sphinx packet length in bytes (header + payload) — exactly the
    /// number of body bytes that follow a frame header with this tag.
    pub const fn size(self) -> usize {
        self.plaintext_size() + PAYLOAD_OVERHEAD + SPHINX_HEADER_SIZE
    }

    /// Length of the Sphinx payload (everything after the Sphinx header).
    pub const fn payload_size(self) -> usize {
        self.plaintext_size() + PAYLOAD_OVERHEAD
    }

    /// Plaintext bytes a packet of this class can carry.
    pub const fn plaintext_size(self) -> usize {
        match self {
            PacketSize::Regular => 2048,
            // Derived from Nym's fixed whole-packet ack size of 386 bytes.
            PacketSize::Ack => 21,
            PacketSize::Extended8 => 8192,
            PacketSize::Extended16 => 16384,
            PacketSize::Extended32 => 32768,
        }
    }

    /// Finds the class whose whole-packet size is exactly `len`, e.g. to pick
    /// the tag when forwarding a packet whose body was produced locally.
    pub fn from_packet_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.size() == len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_nym_constants() {
        assert_eq!(PacketSize::Regular.size(), 2413);
        assert_eq!(PacketSize::Ack.size(), 386);
        assert_eq!(PacketSize::Extended8.size(), 8557);
        assert_eq!(PacketSize::Extended16.size(), 16749);
        assert_eq!(PacketSize::Extended32.size(), 33133);
        assert_eq!(MAX_PACKET_SIZE, 33133);
    }

    #[test]
    fn plaintext_and_payload_sizes() {
        assert_eq!(PacketSize::Regular.plaintext_size(), 2048);
        assert_eq!(PacketSize::Extended8.plaintext_size(), 8192);
        assert_eq!(PacketSize::Extended16.plaintext_size(), 16384);
        assert_eq!(PacketSize::Extended32.plaintext_size(), 32768);
        assert_eq!(PacketSize::Regular.payload_size(), 2413 - 348);
        for s in PacketSize::ALL {
            assert_eq!(s.payload_size(), s.size() - SPHINX_HEADER_SIZE);
            assert_eq!(
                s.plaintext_size(),
                s.size() - SPHINX_HEADER_SIZE - PAYLOAD_OVERHEAD
            );
            assert!(s.size() <= MAX_PACKET_SIZE);
        }
    }

    #[test]
    fn tags_match_nym() {
        let expected = [
            (PacketSize::Regular, 1),
            (PacketSize::Ack, 2),
            (PacketSize::Extended32, 3),
            (PacketSize::Extended8, 4),
            (PacketSize::Extended16, 5),
        ];
        for (size, tag) in expected {
            assert_eq!(size.tag(), tag);
            assert_eq!(PacketSize::from_tag(tag), Ok(size));
        }
    }

    #[test]
    fn unknown_tags_rejected() {
        for tag in (0..=u8::MAX).filter(|t| !(1..=5).contains(t)) {
            assert_eq!(
                PacketSize::from_tag(tag),
                Err(FrameError::UnknownSizeTag(tag))
            );
        }
    }

    #[test]
    fn from_packet_len_exact_only() {
        for s in PacketSize::ALL {
            assert_eq!(PacketSize::from_packet_len(s.size()), Some(s));
            assert_eq!(PacketSize::from_packet_len(s.size() + 1), None);
            assert_eq!(PacketSize::from_packet_len(s.size() - 1), None);
        }
        assert_eq!(PacketSize::from_packet_len(0), None);
    }
}
