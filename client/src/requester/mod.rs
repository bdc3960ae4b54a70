//! The network requester's pure parts:
//!
//! - [`allow`]: the allow list (domains with wildcards, IP addresses, CIDR ranges; deny by
//!   default).
pub mod allow;
