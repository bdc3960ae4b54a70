//! The native client processes (tokio): `client`, `socks5-client` and `network-requester`.
//!
//! - [`error`]: [`error::NativeError`], why a client process could not start or stopped.
//! - [`files`]: the client's directory: config, pinned genesis, key files.
//! - [`session`]: one authenticated websocket session with the gateway.
//! - [`link`]: the reconnecting gateway link task.
//! - [`driver`]: the task that owns the client core, shared by every frontend below.
//! - [`app`]: the app websocket server.
//! - [`init`]: `init` (all three binaries).
//! - [`cli`]: the command-line pieces the three binaries share.
//! - [`run`]: `client run`: apps over a websocket.
//! - [`pump`]: moves a tunnelled TCP connection's bytes, within the window granted.
//! - [`socks5`]: `socks5-client run`: the SOCKS5/SOCKS4a proxy over the mixnet.
//! - [`requester`]: `network-requester run`: opens the connections SOCKS5 clients ask for.

pub mod app;
pub mod cli;
pub mod driver;
pub mod error;
pub mod files;
pub mod init;
pub mod link;
pub mod pump;
pub mod requester;
pub mod run;
pub mod session;
pub mod socks5;
