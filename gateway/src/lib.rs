//! # gateway
//!
//! Will hold the gateway: router-core in gateway mode (entry: forward clients' packets to layer 1
//! without peeling; exit: peel the final layer and deliver), the client websocket protocol
//! (registration handshake, authentication, AEAD binary frames), the durable mailbox for offline
//! clients, and the Coconut bandwidth-credential checks (DESIGN.md §5).
//!
//! Nothing is implemented yet; the crate exists so the workspace has its fixed shape.
