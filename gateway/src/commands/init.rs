//! `gateway init`: a new gateway directory with its config and keys.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use node::cli::absolute_path;
use node::engine::EngineSection;
use node::home::NodePaths;
use node::init::{create_node, require_announce};
use node::NodeError;
use tls::config::TlsSection;

use crate::config::{ClientsSection, Config, GatewaySection, MailboxSection};

/// The gateway's addresses, as `init` takes them.
#[derive(Args, Debug, Clone)]
pub struct Addresses {
    /// Address the mix listener binds (last-hop packets arrive here).
    #[arg(long)]
    pub mix_listen: SocketAddr,
    /// Address mixnodes reach this gateway at (default: --mix-listen).
    #[arg(long)]
    pub mix_announce: Option<SocketAddr>,
    /// Address the client websocket server binds.
    #[arg(long)]
    pub clients_listen: SocketAddr,
    /// The ws:// or wss:// URL clients use (default: ws://--clients-listen, or
    /// wss://--clients-listen with --tls-cert).
    #[arg(long)]
    pub clients_announce: Option<String>,
    /// The client port's TLS certificate chain (PEM, leaf first).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Creates `HOME/gateways/ID/` with `config.toml` and fresh keys (and, on `--force`, an empty
/// mailbox).
pub fn init(
    paths: &NodePaths,
    id: &str,
    addresses: &Addresses,
    args: &node::cli::InitArgs,
) -> Result<(), NodeError> {
    let a = addresses;
    require_announce(
        "--mix-listen",
        a.mix_listen,
        a.mix_announce.is_some(),
        "--mix-announce",
        "mixnodes",
    )?;
    require_announce(
        "--clients-listen",
        a.clients_listen,
        a.clients_announce.is_some(),
        "--clients-announce",
        "clients",
    )?;
    let config = Config {
        gateway: GatewaySection {
            id: id.to_string(),
            mix_listen: a.mix_listen,
            mix_announce: a.mix_announce.unwrap_or(a.mix_listen),
            clients_listen: a.clients_listen,
            clients_announce: a.clients_announce.clone().unwrap_or_else(|| {
                let scheme = if a.tls_cert.is_some() { "wss" } else { "ws" };
                format!("{scheme}://{}", a.clients_listen)
            }),
            validators: args.validators.clone(),
            genesis_hash: args.genesis_hash,
        },
        engine: EngineSection::default(),
        clients: ClientsSection::default(),
        mailbox: MailboxSection::default(),
        tls: TlsSection {
            cert_file: a.tls_cert.as_deref().map(absolute_path).transpose()?,
            key_file: a.tls_key.as_deref().map(absolute_path).transpose()?,
            ..args.tls_section()?
        },
    };
    create_node(paths, &config, args.force)?;
    Ok(())
}
