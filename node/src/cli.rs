//! The command-line skeleton every node binary shares: argument groups for clap
//! (`#[command(flatten)]`), the tracing setup, and how `main` turns a command's result into
//! an exit code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;
use validator_core::genesis::GenesisHash;

use crate::cpus::{choose_cpus, parse_cpu_list};
use crate::error::NodeError;
use crate::home::{NodePaths, Role};

/// `--id` and `--home`: which node.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// The node's id (its directory name).
    #[arg(long)]
    pub id: String,
    /// Home directory (default: $MIXNET_HOME, else ~/.mixnet).
    #[arg(long)]
    pub home: Option<PathBuf>,
}

impl NodeArgs {
    /// The node's files, for a node of `role`.
    pub fn paths(&self, role: Role) -> Result<NodePaths, NodeError> {
        NodePaths::resolve(self.home.as_deref(), role, &self.id)
    }
}

/// `--validator` (repeatable) and `--force`, for `init`.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// A validator API URL; repeat for several.
    #[arg(long = "validator")]
    pub validators: Vec<String>,
    /// Replace an existing node of this id, keys and data included.
    #[arg(long)]
    pub force: bool,
    /// The chain's genesis hash (hex), from a source the operator trusts: the genesis the
    /// validators serve is then checked against it instead of being trusted on first use.
    #[arg(long)]
    pub genesis_hash: Option<GenesisHash>,
    /// A CA certificate (PEM) to trust for `https://` validators besides the platform's
    /// roots; repeat for several. Written to `[tls] ca_files` as an absolute path.
    #[arg(long = "ca-file")]
    pub ca_files: Vec<PathBuf>,
}

impl InitArgs {
    /// `[tls]` with the CA files as absolute paths (the config resolves relative ones from
    /// its own directory, not from where `init` ran).
    pub fn tls_section(&self) -> Result<tls::config::TlsSection, crate::NodeError> {
        Ok(tls::config::TlsSection {
            ca_files: self
                .ca_files
                .iter()
                .map(|p| absolute_path(p))
                .collect::<Result<_, _>>()?,
            ..Default::default()
        })
    }
}

/// `path` made absolute against the current directory (a flag's file, for a config file
/// that resolves relative paths from its own directory).
pub fn absolute_path(path: &std::path::Path) -> Result<PathBuf, crate::NodeError> {
    std::path::absolute(path).map_err(crate::NodeError::io("cannot resolve", path))
}

/// `bond`'s account and amount.
#[derive(Args, Debug, Clone)]
pub struct BondArgs {
    /// The account's ed25519 secret key file (bs58, mode 0600).
    #[arg(long)]
    pub account_key: PathBuf,
    /// Stake to bond.
    #[arg(long)]
    pub amount: u64,
}

/// The flags of `run` every node takes.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Shards to run, pinned to the first N CPUs (default: every CPU).
    #[arg(long, conflicts_with = "cpus")]
    pub shards: Option<usize>,
    /// CPUs to run one shard each on, e.g. 0,2-3.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Forward to any next hop instead of only topology nodes. For tests and benchmarks:
    /// it makes the node an open relay.
    #[arg(long)]
    pub danger_allow_any_next_hop: bool,
    /// A peer's Noise key, as ADDR=KEY (KEY in base58; repeat for several): links to ADDR
    /// use KEY, and KEY may open links to this node. For tests and networks without
    /// validators; with --danger-allow-any-next-hop, only listed keys may then open links.
    #[arg(long = "danger-noise-peer", value_name = "ADDR=KEY")]
    pub danger_noise_peers: Vec<String>,
}

impl RunArgs {
    /// The CPUs to run shards on (see [`choose_cpus`]).
    pub fn cpus(&self) -> Result<Vec<usize>, NodeError> {
        let list = self.cpus.as_deref().map(parse_cpu_list).transpose()?;
        choose_cpus(self.shards, list.as_deref())
    }
}

/// How `node-details` prints.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Output {
    /// Pretty JSON, for tools.
    #[default]
    Json,
    /// Aligned text, for people.
    Text,
}

/// Something a node prints in either form.
pub trait Printable: Serialize {
    /// The human-readable form.
    fn to_text(&self) -> String;

    /// Prints it to stdout as `output` asks.
    fn print(&self, output: Output) -> Result<(), NodeError> {
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(self).map_err(|e| NodeError::Encode {
                    what: "the details",
                    message: e.to_string(),
                })?
            ),
            Output::Text => print!("{}", self.to_text()),
        }
        Ok(())
    }
}

/// Prints `value` as one line of JSON.
pub fn print_json_line(value: &impl Serialize) -> Result<(), NodeError> {
    let line = serde_json::to_string(value).map_err(|e| NodeError::Encode {
        what: "the answer",
        message: e.to_string(),
    })?;
    println!("{line}");
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The exit code of a command: success, or the error on stderr after the binary's name.
pub fn exit_code<E: std::fmt::Display>(binary: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{binary}: {error}");
            ExitCode::FAILURE
        }
    }
}
