//! # client
//!
//! Will hold the sans-IO client core (packet building with `sphinx-packet`, Poisson sending with
//! cover traffic, fragmentation, SURB-ACKs and retransmission, anonymous replies), the native
//! client with its websocket API for apps, the SOCKS5 client and the network requester
//! (DESIGN.md §5).
//!
//! Nothing is implemented yet; the crate exists so the workspace has its fixed shape.
