//! `mixnode init`: a new node directory with its config and keys.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::{Config, EngineSection, NodeSection};
use crate::home::{validate_id, NodePaths};
use crate::keys::NodeKeys;

/// What `init` was asked to do.
#[derive(Debug, Clone)]
pub struct InitArgs<'a> {
    /// The node's id.
    pub id: &'a str,
    /// Mix listener address.
    pub listen: SocketAddr,
    /// Announced address (defaults to `listen`).
    pub announce: Option<SocketAddr>,
    /// Validator URLs.
    pub validators: Vec<String>,
    /// Replace an existing node of the same id (new keys).
    pub force: bool,
}

/// Creates `HOME/mixnodes/ID/` with `config.toml` and fresh keys; returns the paths.
pub fn init(home: &Path, args: &InitArgs<'_>) -> Result<NodePaths, String> {
    validate_id(args.id)?;
    if args.announce.is_none() && args.listen.ip().is_unspecified() {
        return Err(format!(
            "--listen {} is a wildcard address; pass --announce with the address other nodes reach",
            args.listen
        ));
    }
    let paths = NodePaths::new(home, "mixnodes", args.id);
    if paths.dir.exists() {
        if !args.force {
            return Err(format!(
                "{} already exists: mixnode {:?} is initialised (pass --force to replace it and its keys)",
                paths.dir.display(),
                args.id
            ));
        }
        std::fs::remove_dir_all(&paths.dir)
            .map_err(|e| format!("cannot remove {}: {e}", paths.dir.display()))?;
    }
    std::fs::create_dir_all(&paths.dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.dir.display()))?;
    let config = Config {
        node: NodeSection {
            id: args.id.to_string(),
            listen: args.listen,
            announce: args.announce.unwrap_or(args.listen),
            validators: args.validators.clone(),
        },
        engine: EngineSection::default(),
    };
    // Validate before anything is written, so a bad URL leaves no half-made node behind.
    let text = config
        .to_toml()
        .map_err(|e| format!("cannot encode the config: {e}"))?;
    if let Err(error) = Config::parse(&text, &paths.config()) {
        let _ = std::fs::remove_dir_all(&paths.dir);
        return Err(error.to_string());
    }
    let keys = NodeKeys::generate();
    keys.save(&paths.identity_key(), &paths.sphinx_key())
        .map_err(|e| e.to_string())?;
    std::fs::write(paths.config(), text)
        .map_err(|e| format!("cannot write {}: {e}", paths.config().display()))?;
    Ok(paths)
}
