//! In-place Sphinx processing, byte-compatible with `sphinx-packet` 0.8.
//!
//! A node receives a packet into a buffer, calls [`unwrap_in_place`] (or the phased functions
//! the batch unwrapper uses), and then either forwards the same buffer, which now holds the
//! next hop's packet, or hands the payload that follows the header to its final destination.
//! Nothing here allocates, reads a clock or owns randomness; secrets are wiped on drop.
//!
//! Layout:
//! - [`constants`]: sizes, offsets and the HKDF strings;
//! - [`version`]: the header versions and how each derives its payload key;
//! - `keys`: the node key, the per-hop HKDF expansion, payload-key derivation;
//! - `header`: MAC check and in-place routing-information peeling;
//! - `payload`: one Lioness layer in place;
//! - [`plaintext`]: the message inside a fully peeled payload (the exit role);
//! - `unwrap`: the entry points for one packet;
//! - `batch`: [`BatchUnwrapper`], many packets with batched X25519 in two phases, and
//!   [`MultiKeyUnwrapper`], the same with a choice of keys per packet (key rotation).
//!
//! Differences from `sphinx-packet`, on purpose: a buffer whose length is not one of Nym's
//! packet sizes is refused, so is a non-canonical alpha (see [`read_alpha`]), and so is a
//! header version we do not know (see [`version`]).

mod batch;
pub mod constants;
mod header;
mod keys;
mod payload;
pub mod plaintext;
mod unwrap;
pub mod version;

pub use batch::{BatchUnwrapper, KeyChoice, KeyedResult, MultiKeyUnwrapper};
pub use keys::{ReplayTag, SharedSecret, SphinxSecretKey};
pub use plaintext::{recover_plaintext, PlaintextError};
pub use unwrap::{
    peel_with_shared_secret, read_alpha, split_packet, unwrap_in_place, write_alpha, Hop, Peeled,
    Unwrapped,
};
pub use version::SphinxVersion;

use constants::{DESTINATION_SIZE, IDENTIFIER_SIZE, NODE_ADDRESS_SIZE};

/// The 32 address bytes of the next hop as the sender wrote them (decode them with
/// [`crate::wire::decode_node_address`]).
pub type NodeAddressBytes = [u8; NODE_ADDRESS_SIZE];
/// The final destination: for Nym, the recipient client's identity key.
pub type DestinationAddress = [u8; DESTINATION_SIZE];
/// The identifier the sender put for the final hop (used for SURB replies).
pub type SurbIdentifier = [u8; IDENTIFIER_SIZE];

/// The delay a sender chose for a hop, in nanoseconds, as carried in the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delay(u64);

impl Delay {
    pub const fn from_nanos(nanos: u64) -> Self {
        Delay(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub const fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

/// Why a packet could not be unwrapped. Every variant means: drop the packet.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnwrapError {
    #[error("a packet of {0} bytes is not one of the Sphinx packet sizes")]
    InvalidLength(usize),
    #[error("alpha is not a canonical field element (a malleated copy of some packet)")]
    NonCanonicalAlpha,
    #[error("the header MAC does not verify (wrong key, corrupted or forged header)")]
    HeaderMac,
    #[error("unknown routing flag {0}")]
    UnknownRoutingFlag(u8),
    #[error("unknown Sphinx header version {0:?}")]
    UnknownVersion([u8; 3]),
    /// Only from [`MultiKeyUnwrapper`]: no key was chosen for the packet (its frame names a key
    /// rotation the node holds no key for). The packet was not touched.
    #[error("no key of this node is the one the packet was built for")]
    NoKey,
}
