//! Wire formats shared with the Nym mixnet: node-to-node TCP framing, Sphinx
//! packet sizes and the node address inside Sphinx routing information.
//!
//! Only byte layouts live here — no I/O, no crypto — so the formats can be
//! tested exhaustively and fuzzed in isolation.
//!
//! # Frame layout
//!
//! A node-to-node TCP stream is a plain concatenation of frames:
//!
//! ```text
//! version 8:  [ 8 | size tag | type | rotation ][ body: size bytes ]
//! version 7:  [ 7 | size tag | type ][ body: size bytes ]
//!
//! size tag:   1 regular (2413)   2 ack (386)   3 extended32 (33133)
//!             4 extended8 (8557)   5 extended16 (16749)
//! type:       0 Sphinx (anything else, e.g. 1 = Outfox, is unsupported)
//! rotation:   0 unknown   1 odd   2 even
//! ```
//!
//! The body is one whole Sphinx packet: a 348-byte Sphinx header followed by
//! the payload (plaintext + 17 bytes). There is **no length prefix**; the size
//! tag alone determines where the next frame begins. Consequently:
//!
//! * a decoder validates each header byte as soon as it arrives, so a
//!   misbehaving peer is caught after one byte, not one 33 KB frame;
//! * any [`FrameError`] while decoding is unrecoverable — there is no way to
//!   resynchronise, and the connection must be closed.
//!
//! # Using the decoder on a connection
//!
//! Read into a buffer of at least [`MAX_FRAME_LEN`] bytes, then either iterate
//! with [`frames`] (borrowing, read-only) or locate frames by offset with
//! [`decode_frame_range`] so the bodies can be processed in place:
//!
//! ```rust
//! use router_core::wire::{decode_frame_range, encode_frame, FrameHeader, KeyRotation, PacketSize};
//!
//! // two regular frames arrive, the second cut short by the end of a read
//! let header = FrameHeader::v8(PacketSize::Regular, KeyRotation::Even);
//! let body = vec![7u8; PacketSize::Regular.size()];
//! let mut buf = vec![0u8; 2 * header.frame_len()];
//! let first = encode_frame(&header, &body, &mut buf)?;
//! encode_frame(&header, &body, &mut buf[first..])?;
//! let mut filled = first + 100;
//!
//! let mut pos = 0;
//! let mut seen = 0;
//! while let Some(r) = decode_frame_range(&buf[..filled], pos)? { // Err: close the connection
//!     buf[r.body.clone()].fill(0); // process the body in place
//!     seen += 1;
//!     pos = r.end();
//! }
//! buf.copy_within(pos..filled, 0); // keep the partial frame for the next read
//! filled -= pos;
//! assert_eq!((seen, filled), (1, 100));
//! # Ok::<(), router_core::wire::FrameError>(())
//! ```
//!
//! # Node address layout
//!
//! See [`node_address`]: `[4|6][port u16 BE][4 or 16 IP bytes][zero pad]`,
//! 32 bytes in total.

pub mod frame;
pub mod node_address;
pub mod packet_size;

pub use frame::{
    decode_frame, decode_frame_range, decode_header, encode_frame, frames, Frame, FrameError,
    FrameHeader, FrameRange, Frames, FramingVersion, KeyRotation, PacketType, MAX_FRAME_LEN,
    MAX_HEADER_LEN, MIN_HEADER_LEN,
};
pub use node_address::{
    decode_node_address, decode_node_address_strict, encode_node_address, AddressError,
    NODE_ADDRESS_LEN,
};
pub use packet_size::{PacketSize, MAX_PACKET_SIZE, PAYLOAD_OVERHEAD, SPHINX_HEADER_SIZE};
