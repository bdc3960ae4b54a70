//! The native client process (tokio).
//!
//! - [`files`]: the client's directory: config, pinned genesis, key files.
//! - [`session`]: one authenticated websocket session with the gateway.
//! - [`link`]: the reconnecting gateway link task.
//! - [`app`]: the app websocket server.
//! - [`init`]: `client init`.
//! - [`run`]: `client run`, the driver around the sans-IO core.

pub mod app;
pub mod files;
pub mod init;
pub mod link;
pub mod run;
pub mod session;
