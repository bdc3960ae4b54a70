//! Sizes, offsets and domain-separation strings of Sphinx as built by `sphinx-packet` 0.8.
//!
//! A header is `alpha (32) | gamma, the MAC (16) | beta, the routing info (300)`. Beta holds five
//! 60-byte hop slots; a slot is `flag (1) | version (3) | address (32) | delay (8) | next MAC (16)`
//! for a forward hop and `flag (1) | version (3) | destination (32) | identifier (16) | padding`
//! for the final hop.

/// Size of alpha, the group element (a Curve25519 u-coordinate).
pub const ALPHA_SIZE: usize = 32;
/// Size of gamma, the truncated HMAC-SHA256 over beta.
pub const MAC_SIZE: usize = 16;
/// The longest route a header can carry (r in the Sphinx paper).
pub const MAX_HOPS: usize = 5;
/// `flag | version | node address | delay` of a forward hop.
pub const HOP_META_SIZE: usize = FLAG_SIZE + VERSION_SIZE + NODE_ADDRESS_SIZE + DELAY_SIZE;
/// One hop's slot of beta: its meta information and the MAC of the next header.
pub const HOP_SLOT_SIZE: usize = HOP_META_SIZE + MAC_SIZE;
/// Size of beta.
pub const ROUTING_INFO_SIZE: usize = HOP_SLOT_SIZE * MAX_HOPS;
/// Size of a whole Sphinx header.
pub const HEADER_SIZE: usize = ALPHA_SIZE + MAC_SIZE + ROUTING_INFO_SIZE;

/// Offsets of the header fields inside a packet buffer.
pub const ALPHA_OFFSET: usize = 0;
pub const MAC_OFFSET: usize = ALPHA_OFFSET + ALPHA_SIZE;
pub const ROUTING_INFO_OFFSET: usize = MAC_OFFSET + MAC_SIZE;

pub const FLAG_SIZE: usize = 1;
pub const VERSION_SIZE: usize = 3;
pub const NODE_ADDRESS_SIZE: usize = 32;
pub const DELAY_SIZE: usize = 8;
pub const DESTINATION_SIZE: usize = 32;
pub const IDENTIFIER_SIZE: usize = 16;

/// Routing flag of a forward hop.
pub const FORWARD_HOP: u8 = 1;
/// Routing flag of the final hop.
pub const FINAL_HOP: u8 = 2;

pub const STREAM_KEY_SIZE: usize = 16;
pub const MAC_KEY_SIZE: usize = 16;
/// A full Lioness key (ChaCha20 + BLAKE2b keyed: 2 * (32 + 64)).
pub const PAYLOAD_KEY_SIZE: usize = 192;
/// Versions 259 and later carry a 16-byte seed that a second HKDF expands to the Lioness key.
pub const PAYLOAD_KEY_SEED_SIZE: usize = 16;
pub const BLINDING_FACTOR_SIZE: usize = 32;
pub const REPLAY_TAG_SIZE: usize = 32;
/// Everything one hop derives from its shared secret. The order (stream key, MAC key, payload
/// key, blinding factor, replay tag) is fixed by compatibility: the replay tag came last.
pub const EXPANDED_SECRET_SIZE: usize =
    STREAM_KEY_SIZE + MAC_KEY_SIZE + PAYLOAD_KEY_SIZE + BLINDING_FACTOR_SIZE + REPLAY_TAG_SIZE;

/// Payload overhead: 16 leading zero bytes and the `1` that marks the start of padding.
pub const PAYLOAD_OVERHEAD: usize = 17;

/// HKDF-SHA256 info for the per-hop expansion (a legacy constant; the salt is empty so that a
/// node can always recover the version from the header before anything else).
pub const HOP_HKDF_INFO: &[u8] =
    b"Dwste mou enan moxlo arketa makru kai ena upomoxlio gia na ton topothetisw kai tha kinisw thn gh.";
pub const HOP_HKDF_SALT: &[u8] = b"";
/// HKDF-SHA256 parameters that expand a payload key seed (versions 259 and 260).
pub const PAYLOAD_KEY_HKDF_INFO: &[u8] = b"sphinx-payload-key-V01-CS01-HKDF:SHA256-INFO";
pub const PAYLOAD_KEY_HKDF_SALT: &[u8] = b"sphinx-payload-key-V01-CS01-HKDF:SHA256-SALT";

const _: () = assert!(HOP_META_SIZE == 44);
const _: () = assert!(HOP_SLOT_SIZE == 60);
const _: () = assert!(ROUTING_INFO_SIZE == 300);
const _: () = assert!(HEADER_SIZE == 348);
const _: () = assert!(
    EXPANDED_SECRET_SIZE <= 255 * 32,
    "within HKDF-SHA256's output limit"
);
// The final hop's slot must fit in the space the first slot occupies.
const _: () =
    assert!(FLAG_SIZE + VERSION_SIZE + DESTINATION_SIZE + IDENTIFIER_SIZE <= HOP_SLOT_SIZE);
