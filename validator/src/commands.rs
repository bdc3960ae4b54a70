//! The `validator` binary's commands: `init`, `run`, `keygen`, each failing with a
//! [`CommandError`] that names the file or the part at fault.

use std::path::{Path, PathBuf};

use validator_core::coconut::{ttp_keygen, CoconutError};
use validator_core::credential::{parameters, KeySetError, VerificationKeySet};
use validator_core::files::{
    resolve_home, validate_id, write_secret, HomeError, IdError, KeyFileError,
};
use validator_core::primitives::IdentityKey;

use crate::service::config::{write_coconut_key, CoconutKeyFile, Config, ConfigError};
use crate::service::node::{self, StartError};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No home directory.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The id cannot be a directory name.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A key file cannot be written.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The config, genesis or Coconut key files cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The service could not start or stopped with an error.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Something that must not be overwritten exists.
    #[error("{} exists: {why}", path.display())]
    Exists {
        /// What exists.
        path: PathBuf,
        /// What that means.
        why: &'static str,
    },
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The trusted dealer could not make the keys.
    #[error("coconut keys: {0}")]
    Coconut(#[from] CoconutError),
    /// The keys it made do not form a verification key set.
    #[error("verification key set: {0}")]
    KeySet(#[from] KeySetError),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// Output could not be encoded.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What.
        what: &'static str,
        /// The encoder's error.
        source: serde_json::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CommandError {
    let path = path.to_path_buf();
    move |source| CommandError::Io {
        action,
        path,
        source,
    }
}

/// `HOME/validators/ID`, with the id checked.
pub fn resolve(home: Option<&Path>, id: &str) -> Result<PathBuf, CommandError> {
    validate_id(id)?;
    Ok(resolve_home(home)?.join("validators").join(id))
}

/// Creates the validator's identity key and config in `dir` (and copies `genesis` in);
/// prints its identity key and directory as JSON.
pub fn init(
    dir: &Path,
    listen: std::net::SocketAddr,
    genesis: Option<&Path>,
) -> Result<(), CommandError> {
    let config_path = dir.join("config.toml");
    if config_path.exists() {
        return Err(CommandError::Exists {
            path: config_path,
            why: "this validator is already initialised",
        });
    }
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let seed = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    write_secret(&dir.join("identity.key"), &key.to_bytes())?;
    if let Some(g) = genesis {
        std::fs::copy(g, dir.join("genesis.toml")).map_err(io("cannot copy", g))?;
    }
    let config = format!(
        "[validator]\nlisten = \"{listen}\"\ngenesis = \"genesis.toml\"\nidentity_key = \"identity.key\"\n\n\
         # Coconut keys need no files: the validators generate them together on the chain.\n\n\
         # The chain: consensus traffic goes to this validator's p2p_address in the genesis.\n\
         [chain]\ndata_dir = \"data\"\n# block_interval_ms = 1000\n# p2p_listen = \"0.0.0.0:27000\"\n"
    );
    std::fs::write(&config_path, config).map_err(io("cannot write", &config_path))?;
    let identity = IdentityKey::from(&key);
    println!(
        "{}",
        serde_json::json!({ "identity_key": identity.to_string(), "dir": dir.display().to_string() })
    );
    Ok(())
}

/// Runs the validator in `dir` until SIGINT or SIGTERM.
pub fn run(dir: &Path) -> Result<(), CommandError> {
    let loaded = Config::load(&dir.join("config.toml"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)?;
    runtime.block_on(async {
        node::run(loaded, shutdown_signal(), |addr| {
            tracing::info!(%addr, "listening");
        })
        .await
    })?;
    Ok(())
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

/// Trusted-dealer key generation, for offline tests and benchmarks of Coconut only (whoever
/// runs it knows the master secret; validators generate their keys on the chain and never
/// read these files): `validators` key shares (any `threshold` of them issue) and the
/// verification key set, written to `out`; never overwrites keys.
pub fn keygen(threshold: u64, validators: u64, out: &Path) -> Result<(), CommandError> {
    let params = parameters();
    let keys = ttp_keygen(&params, threshold, validators, &mut rand::rng())?;
    std::fs::create_dir_all(out).map_err(io("cannot create", out))?;
    let public_path = out.join("verification-keys.json");
    if public_path.exists() {
        return Err(CommandError::Exists {
            path: public_path,
            why: "refusing to overwrite keys",
        });
    }
    let set = VerificationKeySet::from_key_pairs(threshold, &keys)?;
    for k in &keys {
        let path = out.join(format!("coconut-{}.key", k.index()));
        write_coconut_key(
            &path,
            &CoconutKeyFile {
                index: k.index(),
                secret_key: k.secret_key().clone(),
            },
        )?;
    }
    let json = serde_json::to_string_pretty(&set).map_err(|source| CommandError::Encode {
        what: "the verification keys",
        source,
    })?;
    std::fs::write(&public_path, json).map_err(io("cannot write", &public_path))?;
    println!(
        "wrote {validators} key shares (threshold {threshold}) and {} to {}",
        public_path.display(),
        out.display()
    );
    Ok(())
}
