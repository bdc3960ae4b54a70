//! The `validator` binary: `init`, `run`, `keygen`. See the crate docs and README.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use validator::service::config::{write_coconut_key, CoconutKeyFile, Config};
use validator::service::node;
use validator_core::coconut::ttp_keygen;
use validator_core::credential::{parameters, VerificationKeySet};
use validator_core::files::{resolve_home, validate_id, write_secret};
use validator_core::primitives::IdentityKey;

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
    /// Trusted-dealer Coconut key generation: one key share per validator and the public
    /// verification key set. Run once, hand each share to its validator, destroy the rest.
    Keygen {
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
            threshold,
            validators,
            out,
        } => keygen(threshold, validators, &out),
        Command::Init {
            id,
            listen,
            genesis,
        } => {
            resolve(cli.home.as_deref(), &id).and_then(|dir| init(&dir, listen, genesis.as_deref()))
        }
        Command::Run { id } => resolve(cli.home.as_deref(), &id).and_then(|dir| run(&dir)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn resolve(home: Option<&Path>, id: &str) -> Result<PathBuf, String> {
    validate_id(id).map_err(|e| e.to_string())?;
    Ok(resolve_home(home)
        .map_err(|e| e.to_string())?
        .join("validators")
        .join(id))
}

fn init(dir: &Path, listen: std::net::SocketAddr, genesis: Option<&Path>) -> Result<(), String> {
    let config_path = dir.join("config.toml");
    if config_path.exists() {
        return Err(format!(
            "{} exists: this validator is already initialised",
            config_path.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let seed = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    write_secret(&dir.join("identity.key"), &key.to_bytes()).map_err(|e| e.to_string())?;
    if let Some(g) = genesis {
        std::fs::copy(g, dir.join("genesis.toml")).map_err(|e| format!("{}: {e}", g.display()))?;
    }
    let config = format!(
        "[validator]\nlisten = \"{listen}\"\ngenesis = \"genesis.toml\"\nidentity_key = \"identity.key\"\n\n\
         # Uncomment with the files from `validator keygen` to issue credentials.\n\
         # [coconut]\n# secret_key = \"coconut.key\"\n# verification_keys = \"verification-keys.json\"\n"
    );
    std::fs::write(&config_path, config).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let identity = IdentityKey::from(&key);
    println!(
        "{}",
        serde_json::json!({ "identity_key": identity.to_string(), "dir": dir.display().to_string() })
    );
    Ok(())
}

fn run(dir: &Path) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let loaded = Config::load(&dir.join("config.toml")).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async {
        node::run(loaded, shutdown_signal(), |addr| {
            tracing::info!(%addr, "listening");
        })
        .await
        .map_err(|e| e.to_string())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
    tracing::info!("shutdown requested");
}

fn keygen(threshold: u64, validators: u64, out: &Path) -> Result<(), String> {
    let params = parameters();
    let keys =
        ttp_keygen(&params, threshold, validators, &mut rand::rng()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let public_path = out.join("verification-keys.json");
    if public_path.exists() {
        return Err(format!(
            "{} exists; refusing to overwrite keys",
            public_path.display()
        ));
    }
    let set = VerificationKeySet::from_key_pairs(threshold, &keys).map_err(|e| e.to_string())?;
    for k in &keys {
        let path = out.join(format!("coconut-{}.key", k.index()));
        write_coconut_key(
            &path,
            &CoconutKeyFile {
                index: k.index(),
                secret_key: k.secret_key().clone(),
            },
        )
        .map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_string_pretty(&set).map_err(|e| e.to_string())?;
    std::fs::write(&public_path, json).map_err(|e| format!("{}: {e}", public_path.display()))?;
    println!(
        "wrote {validators} key shares (threshold {threshold}) and {} to {}",
        public_path.display(),
        out.display()
    );
    Ok(())
}
