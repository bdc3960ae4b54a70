//! A one-validator chain on a thread of the calling process, on loopback: for tests and for
//! tools that need a real validator without deploying one. It is the full service (the same
//! `node::run` a `validator run` process executes), with a generated genesis: one funded
//! account, threshold 1; its Coconut key (1 of 1) comes from its own chain's key generation
//! within a few blocks ([`LocalValidator::wait_for_keys`]).

use std::path::Path;

use ed25519_dalek::SigningKey;

use validator::service::config::{Config, Loaded};
use validator_core::files::write_secret;
use validator_core::genesis::Genesis;
use validator_core::primitives::IdentityKey;

/// How the local chain is set up.
#[derive(Debug, Clone)]
pub struct LocalChain {
    /// The chain id.
    pub chain_id: String,
    /// Epoch length, ms.
    pub epoch_length_ms: u64,
    /// The one funded account.
    pub account: IdentityKey,
    /// Its balance.
    pub balance: u64,
    /// Smallest bond that counts.
    pub minimum_bond: u64,
    /// Mixnodes in the active set.
    pub mixnodes: u32,
    /// Gateways in the active set.
    pub gateways: u32,
    /// Sphinx key rotation `(length_ms, overlap_ms)`, if the chain rotates keys.
    pub key_rotation: Option<(u64, u64)>,
}

/// The running validator; stops when dropped.
pub struct LocalValidator {
    /// Its API URL.
    pub url: String,
    /// The chain's genesis.
    pub genesis: Genesis,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LocalValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalValidator")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Why the local validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalChainError {
    /// A file or directory under its directory, or a thread or socket, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file where there is one.
        what: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A key file could not be written.
    #[error(transparent)]
    Key(#[from] validator_core::files::KeyFileError),
    /// Its config or genesis does not load (a bug in the files written here).
    #[error("{0}")]
    Config(String),
    /// Its key generation did not complete in time.
    #[error("the local validator generated no Coconut keys: {0}")]
    Keys(String),
    /// The service failed to start, or did not answer ready in time.
    #[error("the local validator did not start: {0}")]
    Start(String),
}

fn io_error(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> LocalChainError {
    let what = what.to_string();
    move |source| LocalChainError::Io { what, source }
}

impl LocalValidator {
    /// Writes its files under `dir` and starts it on a free loopback port.
    pub fn start(dir: &Path, chain: &LocalChain) -> Result<Self, LocalChainError> {
        let (url, genesis, config) = write_files(dir, chain)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("local-validator".into())
            .spawn(move || serve(config, stopped, ready_tx))
            .map_err(io_error("cannot start its thread"))?;
        let validator = LocalValidator {
            url,
            genesis,
            stop: Some(stop),
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(Ok(())) => Ok(validator),
            Ok(Err(e)) => Err(LocalChainError::Start(e)),
            Err(_) => Err(LocalChainError::Start("no answer within 20 s".into())),
        }
    }

    /// Waits until its chain's key generation (1 of 1, a few blocks) has produced the Coconut
    /// keys credentials are issued under, at most `timeout`.
    pub async fn wait_for_keys(&self, timeout: std::time::Duration) -> Result<(), LocalChainError> {
        let client = validator_client::ValidatorClient::new(&self.url)
            .map_err(|e| LocalChainError::Keys(e.to_string()))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match client.verification_keys().await {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(LocalChainError::Keys(e.to_string()))
                }
                // Polling a local HTTP endpoint: there is nothing to wait on instead.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }
}

/// The validator's identity key, genesis and config under `dir`; returns its URL, the
/// genesis and the loaded config.
fn write_files(
    dir: &Path,
    chain: &LocalChain,
) -> Result<(String, Genesis, Loaded), LocalChainError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir.display()))?;
    let mut seed = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut seed);
    let key = SigningKey::from_bytes(&seed);
    write_secret(&dir.join("identity.key"), &key.to_bytes())?;
    let port = crate::free_port().map_err(io_error("no free loopback port"))?;
    let url = format!("http://127.0.0.1:{port}");
    // The kernel may hand out the port it just gave back: the two must differ.
    let mut p2p_port = crate::free_port().map_err(io_error("no free loopback port"))?;
    while p2p_port == port {
        p2p_port = crate::free_port().map_err(io_error("no free loopback port"))?;
    }
    let genesis = format!(
        "chain_id = \"{}\"\ngenesis_time_unix_ms = {}\nepoch_length_ms = {}\n\
         threshold = 1\nminimum_bond = {}\n[active_set]\nmixnodes = {}\ngateways = {}\n\
         [[accounts]]\npublic_key = \"{}\"\nbalance = {}\n\
         [[validators]]\nidentity_key = \"{}\"\napi_url = \"{url}\"\n\
         p2p_address = \"127.0.0.1:{p2p_port}\"\n",
        chain.chain_id,
        crate::now_ms(),
        chain.epoch_length_ms,
        chain.minimum_bond,
        chain.mixnodes,
        chain.gateways,
        chain.account,
        chain.balance,
        IdentityKey::from(&key)
    );
    let genesis = match chain.key_rotation {
        Some((length_ms, overlap_ms)) => {
            format!("{genesis}[key_rotation]\nlength_ms = {length_ms}\noverlap_ms = {overlap_ms}\n")
        }
        None => genesis,
    };
    let genesis_path = dir.join("genesis.toml");
    std::fs::write(&genesis_path, &genesis).map_err(io_error(genesis_path.display()))?;
    let config = validator_config(port);
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, config).map_err(io_error(config_path.display()))?;
    let config_error = |e: &dyn std::fmt::Display| LocalChainError::Config(e.to_string());
    let loaded = Config::load(&config_path).map_err(|e| config_error(&e))?;
    let genesis = Genesis::from_toml_str(&genesis).map_err(|e| config_error(&e))?;
    Ok((url, genesis, loaded))
}

/// The validator service on this thread until `stopped`; `ready` hears once it serves, or
/// why it could not start.
fn serve(
    config: Loaded,
    stopped: tokio::sync::oneshot::Receiver<()>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    runtime.block_on(async {
        let shutdown = async {
            let _ = stopped.await;
        };
        let started = ready.clone();
        let result = validator::service::node::run(config, shutdown, move |_| {
            let _ = started.send(Ok(()));
        })
        .await;
        if let Err(e) = result {
            let _ = ready.send(Err(e.to_string()));
        }
    });
}

impl Drop for LocalValidator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The one validator's config: it decides alone, so a block every 100 ms costs little and
/// lets even a one-second test epoch get its topology built and signed before it starts.
/// Every client and node of a test comes from 127.0.0.1: its per-address API limits are the
/// whole local network's ([`crate::plan::LOCAL_API_RATE`]).
fn validator_config(port: u16) -> String {
    let rate = crate::plan::LOCAL_API_RATE;
    format!(
        "[validator]\nlisten = \"127.0.0.1:{port}\"\ngenesis = \"genesis.toml\"\n\
         identity_key = \"identity.key\"\n[chain]\nblock_interval_ms = 100\n\
         [api]\nread_per_second = {rate}\nread_burst = {rate}\nwrite_per_second = {rate}\n\
         write_burst = {rate}\npeer_per_second = {rate}\npeer_burst = {rate}\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_validator_config_parses_with_the_local_limits() {
        let config = Config::parse(&validator_config(8000), Path::new("config.toml")).unwrap();
        assert_eq!(config.chain.block_interval_ms, 100);
        let rate = u32::try_from(crate::plan::LOCAL_API_RATE).unwrap();
        assert_eq!(config.api.write_per_second, rate);
        assert_eq!(config.api.peer_burst, rate);
        assert_eq!(config.api.read_burst, rate);
    }
}
