//! # gateway
//!
//! (crate docs are written below, once the layout is in place)

pub mod final_hop;
pub mod protocol;

#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod store;
