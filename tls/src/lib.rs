//! TLS for the validators' HTTP API, the gateways' client websocket, and everything that
//! connects to them, on rustls with the `ring` provider (no C toolchain, one provider for
//! the whole workspace).
//!
//! Layout:
//! - [`config`]: the `[tls]` section of every config file.
//! - [`pem`]: certificate chains and private keys read from PEM files, every failure naming
//!   the file.
//! - [`server`]: a server's certificate, swapped whole by [`server::ServerTls::reload`] (a
//!   SIGHUP, see [`server::reload_on_sighup`]) while connections keep the one they started
//!   with; the handshake bounded in time ([`server::handshake`]).
//! - [`client`]: the roots a client trusts (the platform's, plus CA files from its config),
//!   installed once per process.
//! - [`local_ca`] (feature `local-ca`): a CA of our own that issues certificates for local
//!   networks and tests.

pub mod client;
pub mod config;
#[cfg(feature = "local-ca")]
pub mod local_ca;
pub mod pem;
pub mod server;

use std::sync::Arc;

/// The crypto provider every config here uses: `ring`'s. rustls 0.23.48 deprecates it for
/// lacking post-quantum key exchange (X25519MLKEM768 is aws-lc-rs only); aws-lc-rs needs a
/// C toolchain and CMake on every build machine. Moving to it is one line here.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
