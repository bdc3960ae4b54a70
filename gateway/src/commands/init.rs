//! `gateway init`: a new gateway directory with its config and keys.

use std::net::SocketAddr;
use std::path::Path;

use mixnode::config::EngineSection;
use mixnode::home::validate_id;
use mixnode::keys::NodeKeys;

use crate::config::{ClientsSection, Config, GatewayPaths, GatewaySection, MailboxSection};

/// What `init` was asked to do.
#[derive(Debug, Clone)]
pub struct InitArgs<'a> {
    /// The gateway's id.
    pub id: &'a str,
    /// Mix listener address.
    pub mix_listen: SocketAddr,
    /// Announced mix address (default: `mix_listen`).
    pub mix_announce: Option<SocketAddr>,
    /// Client websocket listener address.
    pub clients_listen: SocketAddr,
    /// Announced client URL (default: `ws://clients_listen`).
    pub clients_announce: Option<String>,
    /// Validator URLs.
    pub validators: Vec<String>,
    /// Replace an existing gateway of this id (new keys, empty mailbox).
    pub force: bool,
}

/// Creates `HOME/gateways/ID/` with `config.toml` and fresh keys.
pub fn init(home: &Path, args: &InitArgs<'_>) -> Result<GatewayPaths, String> {
    validate_id(args.id)?;
    if args.mix_announce.is_none() && args.mix_listen.ip().is_unspecified() {
        return Err(format!(
            "--mix-listen {} is a wildcard address; pass --mix-announce with the address mixnodes reach",
            args.mix_listen
        ));
    }
    if args.clients_announce.is_none() && args.clients_listen.ip().is_unspecified() {
        return Err(format!(
            "--clients-listen {} is a wildcard address; pass --clients-announce with the ws:// URL clients use",
            args.clients_listen
        ));
    }
    let paths = GatewayPaths::new(home, args.id);
    let dir = &paths.node.dir;
    if dir.exists() {
        if !args.force {
            return Err(format!(
                "{} already exists: gateway {:?} is initialised (pass --force to replace it, its keys and its mailbox)",
                dir.display(),
                args.id
            ));
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let config = Config {
        gateway: GatewaySection {
            id: args.id.to_string(),
            mix_listen: args.mix_listen,
            mix_announce: args.mix_announce.unwrap_or(args.mix_listen),
            clients_listen: args.clients_listen,
            clients_announce: args
                .clients_announce
                .clone()
                .unwrap_or_else(|| format!("ws://{}", args.clients_listen)),
            validators: args.validators.clone(),
        },
        engine: EngineSection::default(),
        clients: ClientsSection::default(),
        mailbox: MailboxSection::default(),
    };
    let text = config
        .to_toml()
        .map_err(|e| format!("cannot encode the config: {e}"))?;
    if let Err(error) = Config::parse(&text, &paths.node.config()) {
        let _ = std::fs::remove_dir_all(dir);
        return Err(error.to_string());
    }
    let keys = NodeKeys::generate();
    keys.save(&paths.node.identity_key(), &paths.node.sphinx_key())
        .map_err(|e| e.to_string())?;
    std::fs::write(paths.node.config(), text)
        .map_err(|e| format!("cannot write {}: {e}", paths.node.config().display()))?;
    Ok(paths)
}
