//! `init`, the part every role shares: a new node directory holding a checked config and
//! fresh keys, or nothing at all.

use crate::config::ConfigFile;
use crate::error::NodeError;
use crate::home::NodePaths;
use crate::keys::NodeKeys;

/// Creates the node directory at `paths` with `config` and fresh keys. An existing node is
/// an error unless `force`, which replaces it (keys and all its data). The config is checked
/// before anything is written, so a bad value leaves no half-made node behind.
pub fn create_node<C: ConfigFile>(
    paths: &NodePaths,
    config: &C,
    force: bool,
) -> Result<NodeKeys, NodeError> {
    let dir = &paths.dir;
    let text = config.to_toml()?;
    C::parse(&text, &paths.config())?;
    if dir.exists() {
        if !force {
            return Err(NodeError::Refused(format!(
                "{} already exists: {} {:?} is initialised (pass --force to replace it, its keys \
                 and its data)",
                dir.display(),
                paths.role.name(),
                dir.file_name().unwrap_or_default(),
            )));
        }
        std::fs::remove_dir_all(dir).map_err(NodeError::io("cannot remove", dir))?;
    }
    std::fs::create_dir_all(dir).map_err(NodeError::io("cannot create", dir))?;
    let keys = NodeKeys::generate();
    keys.save(paths)?;
    std::fs::write(paths.config(), text).map_err(NodeError::io("cannot write", paths.config()))?;
    Ok(keys)
}

/// Refuses a wildcard listen address without an announced one: other nodes (or clients)
/// need an address they can reach.
pub fn require_announce(
    listen_flag: &'static str,
    listen: std::net::SocketAddr,
    announce_given: bool,
    announce_flag: &'static str,
    who: &str,
) -> Result<(), NodeError> {
    if announce_given || !listen.ip().is_unspecified() {
        return Ok(());
    }
    Err(NodeError::Flag {
        flag: listen_flag,
        message: format!(
            "{listen} is a wildcard address; pass {announce_flag} with the address {who} reach"
        ),
    })
}
