//! `mixnode init`: a new node directory with its config and keys.

use std::net::SocketAddr;

use node::engine::EngineSection;
use node::home::NodePaths;
use node::init::{create_node, require_announce};
use node::NodeError;

use crate::config::{Config, NodeSection};

/// Creates `HOME/mixnodes/ID/` with `config.toml` and fresh keys.
pub fn init(
    paths: &NodePaths,
    id: &str,
    listen: SocketAddr,
    announce: Option<SocketAddr>,
    args: &node::cli::InitArgs,
) -> Result<(), NodeError> {
    require_announce(
        "--listen",
        listen,
        announce.is_some(),
        "--announce",
        "other nodes",
    )?;
    let config = Config {
        node: NodeSection {
            id: id.to_string(),
            listen,
            announce: announce.unwrap_or(listen),
            validators: args.validators.clone(),
            genesis_hash: args.genesis_hash,
        },
        engine: EngineSection::default(),
        tls: args.tls_section()?,
    };
    create_node(paths, &config, args.force)?;
    Ok(())
}
