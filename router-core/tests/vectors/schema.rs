//! The format of `sphinx_unwrap.json`, shared by its generator (`examples/gen_sphinx_vectors.rs`)
//! and its reader (`tests/sphinx_vectors.rs`). All byte strings are hex.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Vectors {
    pub generator: String,
    pub reference: String,
    pub cases: Vec<Case>,
}

#[derive(Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    pub version: u16,
    pub packet_size: usize,
    /// The packet the first hop receives.
    pub packet: String,
    pub hops: Vec<HopRecord>,
}

#[derive(Serialize, Deserialize)]
pub struct HopRecord {
    pub secret_key: String,
    pub replay_tag: String,
    /// "forward" or "final"
    pub kind: String,
    /// next hop address (forward) or destination (final)
    pub address: String,
    /// forward only
    pub delay_nanos: Option<u64>,
    /// final only
    pub identifier: Option<String>,
    /// forward: the next hop's packet; final: the payload with this layer removed
    pub output: String,
}
