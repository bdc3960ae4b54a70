//! The `validator` binary: `init`, `run`, `keygen`. See the crate docs and README.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use validator::commands;

#[derive(Parser)]
#[command(
    name = "validator",
    version,
    about = "Mixnet validator: registry, topology, credentials"
)]
struct Cli {
    /// Home directory (default: $MIXNET_HOME, else ~/.mixnet).
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a validator: identity key and config under HOME/validators/ID.
    Init {
        /// The validator's name.
        #[arg(long)]
        id: String,
        /// HTTP listen address.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: std::net::SocketAddr,
        /// A genesis file to copy in (otherwise put one at HOME/validators/ID/genesis.toml).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Run a validator.
    Run {
        /// The validator's name.
        #[arg(long)]
        id: String,
    },
    /// DANGER, tests and benchmarks only: trusted-dealer Coconut key generation (whoever runs
    /// it holds the master secret and can mint credentials alone). Validators do not use it:
    /// they generate their keys together on the chain.
    Keygen {
        /// Required: says that you know the dealer can mint credentials alone.
        #[arg(long, required = true)]
        danger_trusted_dealer: bool,
        /// Shares needed to issue a credential.
        #[arg(long)]
        threshold: u64,
        /// Number of validators (shares).
        #[arg(long)]
        validators: u64,
        /// Output directory (created; existing key files are never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen {
            danger_trusted_dealer: _,
            threshold,
            validators,
            out,
        } => commands::keygen(threshold, validators, &out),
        Command::Init {
            id,
            listen,
            genesis,
        } => commands::resolve(cli.home.as_deref(), &id)
            .and_then(|dir| commands::init(&dir, listen, genesis.as_deref())),
        Command::Run { id } => {
            init_tracing();
            commands::resolve(cli.home.as_deref(), &id).and_then(|dir| commands::run(&dir))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    // Colours only on a terminal: logs written to files stay plain text.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}
