//! `gateway`: see the library docs and `gateway --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gateway::commands::{bond, details, init, run};
use gateway::config::GatewayPaths;
use mixnode::home::{resolve_home, validate_id};

#[derive(Parser, Debug)]
#[command(name = "gateway", version, about = "A Loopix/Nym-style gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a gateway: HOME/gateways/ID/ with config.toml and its keys.
    Init {
        /// The gateway's id (its directory name).
        #[arg(long)]
        id: String,
        /// Address the mix listener binds (last-hop packets arrive here).
        #[arg(long)]
        mix_listen: SocketAddr,
        /// Address mixnodes reach this gateway at (default: --mix-listen).
        #[arg(long)]
        mix_announce: Option<SocketAddr>,
        /// Address the client websocket server binds.
        #[arg(long)]
        clients_listen: SocketAddr,
        /// The ws:// URL clients use (default: ws://--clients-listen).
        #[arg(long)]
        clients_announce: Option<String>,
        /// Home directory (default: $MIXNET_HOME, else ~/.mixnet).
        #[arg(long)]
        home: Option<PathBuf>,
        /// A validator API URL; repeat for several.
        #[arg(long = "validator")]
        validators: Vec<String>,
        /// Replace an existing gateway of this id, keys and mailbox included.
        #[arg(long)]
        force: bool,
    },
    /// Register the gateway: bond stake to it from an account (takes effect next epoch).
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
    /// Print the gateway's public keys and addresses.
    NodeDetails {
        #[arg(long)]
        id: String,
        #[arg(long)]
        home: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Run the gateway until SIGINT or SIGTERM.
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
        /// Send client packets to any first hop, not only layer-1 topology nodes (tests and
        /// benchmarks only).
        #[arg(long)]
        danger_allow_any_next_hop: bool,
        /// Let clients send without bandwidth credentials (local testing only).
        #[arg(long)]
        free_bandwidth_for_testing: bool,
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
            eprintln!("gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

fn paths(home: Option<PathBuf>, id: &str) -> Result<GatewayPaths, String> {
    validate_id(id)?;
    let home = resolve_home(home.as_deref())?;
    Ok(GatewayPaths::new(&home, id))
}

fn execute(command: Command) -> Result<(), String> {
    match command {
        Command::Init {
            id,
            mix_listen,
            mix_announce,
            clients_listen,
            clients_announce,
            home,
            validators,
            force,
        } => {
            let home = resolve_home(home.as_deref())?;
            let paths = init::init(
                &home,
                &init::InitArgs {
                    id: &id,
                    mix_listen,
                    mix_announce,
                    clients_listen,
                    clients_announce,
                    validators,
                    force,
                },
            )?;
            let details = details::details(&paths)?;
            eprintln!("gateway {id:?} initialised in {}", paths.node.dir.display());
            print!("{}", details.to_text());
            Ok(())
        }
        Command::Bond {
            id,
            home,
            account_key,
            amount,
        } => {
            let bonded = bond::bond(&paths(home, &id)?, &account_key, amount)?;
            println!(
                "{}",
                serde_json::to_string(&bonded).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::NodeDetails { id, home, output } => {
            let details = details::details(&paths(home, &id)?)?;
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
            free_bandwidth_for_testing,
        } => {
            let cpus = cpus
                .as_deref()
                .map(mixnode::commands::run::parse_cpu_list)
                .transpose()?;
            run::run(
                &paths(home, &id)?,
                &run::RunArgs {
                    shards,
                    cpus,
                    metrics_listen,
                    danger_allow_any_next_hop,
                    free_bandwidth_for_testing,
                },
            )
        }
    }
}
