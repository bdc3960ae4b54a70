//! `mixnode`: see the library docs and `mixnode --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mixnode::commands::{bond, details, init, run};
use mixnode::home::{resolve_home, validate_id, NodePaths};

#[derive(Parser, Debug)]
#[command(name = "mixnode", version, about = "A Loopix/Nym-style mixnode")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node: HOME/mixnodes/ID/ with config.toml and its keys.
    Init {
        /// The node's id (its directory name).
        #[arg(long)]
        id: String,
        /// Address the mix listener binds, e.g. 0.0.0.0:1789.
        #[arg(long)]
        listen: SocketAddr,
        /// Address other nodes reach this one at (default: --listen).
        #[arg(long)]
        announce: Option<SocketAddr>,
        /// Home directory (default: $MIXNET_HOME, else ~/.mixnet).
        #[arg(long)]
        home: Option<PathBuf>,
        /// A validator API URL; repeat for several.
        #[arg(long = "validator")]
        validators: Vec<String>,
        /// Replace an existing node of this id, keys included.
        #[arg(long)]
        force: bool,
    },
    /// Register the node: bond stake to it from an account (takes effect next epoch).
    Bond {
        #[arg(long)]
        id: String,
        #[arg(long)]
        home: Option<PathBuf>,
        /// The account's ed25519 secret key file (bs58, mode 0600).
        #[arg(long)]
        account_key: PathBuf,
        /// Stake to bond.
        #[arg(long)]
        amount: u64,
    },
    /// Print the node's public keys and addresses.
    NodeDetails {
        #[arg(long)]
        id: String,
        #[arg(long)]
        home: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Run the node until SIGINT or SIGTERM.
    Run {
        #[arg(long)]
        id: String,
        #[arg(long)]
        home: Option<PathBuf>,
        /// Shards to run, pinned to the first N CPUs (default: every CPU).
        #[arg(long, conflicts_with = "cpus")]
        shards: Option<usize>,
        /// CPUs to run one shard each on, e.g. 0,2-3.
        #[arg(long)]
        cpus: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Forward to any next hop instead of only topology nodes. For tests and benchmarks:
        /// it makes the node an open relay.
        #[arg(long)]
        danger_allow_any_next_hop: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Json,
    Text,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mixnode: {message}");
            ExitCode::FAILURE
        }
    }
}

fn node_paths(home: Option<PathBuf>, id: &str) -> Result<NodePaths, String> {
    validate_id(id)?;
    let home = resolve_home(home.as_deref())?;
    Ok(NodePaths::new(&home, "mixnodes", id))
}

fn execute(command: Command) -> Result<(), String> {
    match command {
        Command::Init {
            id,
            listen,
            announce,
            home,
            validators,
            force,
        } => {
            let home = resolve_home(home.as_deref())?;
            let paths = init::init(
                &home,
                &init::InitArgs {
                    id: &id,
                    listen,
                    announce,
                    validators,
                    force,
                },
            )?;
            let details = details::details(&paths)?;
            eprintln!("mixnode {id:?} initialised in {}", paths.dir.display());
            print!("{}", details.to_text());
            Ok(())
        }
        Command::Bond {
            id,
            home,
            account_key,
            amount,
        } => {
            let bonded = bond::bond(&node_paths(home, &id)?, &account_key, amount)?;
            println!(
                "{}",
                serde_json::to_string(&bonded).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::NodeDetails { id, home, output } => {
            let details = details::details(&node_paths(home, &id)?)?;
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&details).map_err(|e| e.to_string())?
                ),
                Output::Text => print!("{}", details.to_text()),
            }
            Ok(())
        }
        Command::Run {
            id,
            home,
            shards,
            cpus,
            metrics_listen,
            danger_allow_any_next_hop,
        } => {
            let cpus = cpus.as_deref().map(run::parse_cpu_list).transpose()?;
            run::run(
                &node_paths(home, &id)?,
                &run::RunArgs {
                    shards,
                    cpus,
                    metrics_listen,
                    danger_allow_any_next_hop,
                },
            )
        }
    }
}
