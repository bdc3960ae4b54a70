//! The Sphinx version carried in every hop's routing slot.
//!
//! The version decides only one thing for a node: how the payload key is obtained. Versions 1,
//! 257 and 258 take the 192-byte Lioness key straight from the hop expansion; 259 and 260 take a
//! 16-byte seed from the same place and expand it with a second HKDF. (260 differs from 259 only
//! in how SURBs are built, which a node never sees.)
//!
//! Difference from `sphinx-packet`: it processes a header of any version number, treating an
//! unknown one like 259. We refuse versions we do not know, because we cannot know how their
//! payload key is meant to be derived, and a wrong guess silently corrupts the payload.

use super::constants::VERSION_SIZE;

/// A Sphinx header version this node knows how to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SphinxVersion {
    /// `[0, 1, 0]`: the first released version.
    Legacy1,
    /// `[0, 1, 1]`: the second legacy version.
    Legacy257,
    /// 258: X25519 with explicit 192-byte payload keys.
    ExplicitPayloadKeys,
    /// 259: payload keys expanded from 16-byte seeds.
    PayloadKeySeeds,
    /// 260: like 259; SURBs carry only the last hop's seed (current `sphinx-packet` default).
    SingleSeedSurbs,
}

/// How a hop obtains its Lioness key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayloadKeyKind {
    /// The 192 bytes of the hop expansion are the key.
    Explicit,
    /// The first 16 of those bytes are a seed for a second HKDF.
    Seed,
}

impl SphinxVersion {
    /// Every version, oldest first.
    pub const ALL: [SphinxVersion; 5] = [
        SphinxVersion::Legacy1,
        SphinxVersion::Legacy257,
        SphinxVersion::ExplicitPayloadKeys,
        SphinxVersion::PayloadKeySeeds,
        SphinxVersion::SingleSeedSurbs,
    ];

    /// The version number as `sphinx-packet` writes it (`[0, u16 big-endian]`).
    pub const fn number(self) -> u16 {
        match self {
            SphinxVersion::Legacy1 => 1,
            SphinxVersion::Legacy257 => 257,
            SphinxVersion::ExplicitPayloadKeys => 258,
            SphinxVersion::PayloadKeySeeds => 259,
            SphinxVersion::SingleSeedSurbs => 260,
        }
    }

    /// The version with this number, if we know it.
    pub const fn from_number(number: u16) -> Option<Self> {
        match number {
            1 => Some(SphinxVersion::Legacy1),
            257 => Some(SphinxVersion::Legacy257),
            258 => Some(SphinxVersion::ExplicitPayloadKeys),
            259 => Some(SphinxVersion::PayloadKeySeeds),
            260 => Some(SphinxVersion::SingleSeedSurbs),
            _ => None,
        }
    }

    /// Parses the three version bytes of a routing slot. The leading byte is a relic of a
    /// semver encoding and is always zero; anything else is not a version we know.
    pub const fn from_bytes(bytes: [u8; VERSION_SIZE]) -> Option<Self> {
        if bytes[0] != 0 {
            return None;
        }
        Self::from_number(u16::from_be_bytes([bytes[1], bytes[2]]))
    }

    /// The three bytes written into a routing slot.
    pub const fn to_bytes(self) -> [u8; VERSION_SIZE] {
        let [hi, lo] = self.number().to_be_bytes();
        [0, hi, lo]
    }

    pub(crate) const fn payload_key_kind(self) -> PayloadKeyKind {
        match self {
            SphinxVersion::Legacy1
            | SphinxVersion::Legacy257
            | SphinxVersion::ExplicitPayloadKeys => PayloadKeyKind::Explicit,
            SphinxVersion::PayloadKeySeeds | SphinxVersion::SingleSeedSurbs => PayloadKeyKind::Seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_through_bytes() {
        for version in SphinxVersion::ALL {
            assert_eq!(SphinxVersion::from_bytes(version.to_bytes()), Some(version));
        }
        assert_eq!(SphinxVersion::SingleSeedSurbs.to_bytes(), [0, 1, 4]);
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert_eq!(SphinxVersion::from_bytes([0, 1, 5]), None);
        assert_eq!(SphinxVersion::from_bytes([0, 0, 0]), None);
        // a non-zero leading byte is not a version, even with a known number after it
        assert_eq!(SphinxVersion::from_bytes([1, 1, 4]), None);
    }

    #[test]
    fn only_259_and_later_use_seeds() {
        for version in SphinxVersion::ALL {
            let seeded = version.number() >= 259;
            assert_eq!(version.payload_key_kind() == PayloadKeyKind::Seed, seeded);
        }
    }
}
