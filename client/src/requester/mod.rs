//! The network requester's pure parts:
//!
//! - [`allow`]: the allow list (domains with wildcards, IP addresses, CIDR ranges; deny by
//!   default), and whether a name may connect to each address it resolves to.
//! - [`routable`]: which addresses are globally routable; a name that resolves to any other
//!   address (loopback, private, link-local, ...) reaches it only if an address rule allows
//!   it, so an allowed name cannot lead into the exit's internal network.
pub mod allow;
pub mod routable;
