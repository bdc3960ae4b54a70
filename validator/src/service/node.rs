//! A running validator on one tokio runtime: the chain store (replayed at start), the
//! consensus engine and the application answering it, the HTTP server, and the relays to
//! the other validators.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

use super::admission::Admission;
use super::config::Loaded;
use super::http::{router, Shared};
use super::issuer::Issuer;
use super::peers::Peers;
use super::tls_listener::TlsListener;
use crate::chain::app::{App, AppError, AppParts};
use crate::chain::byzantine::Byzantine;
use crate::chain::context::{Height, ValidatorSet};
use crate::chain::engine::{engine_config, EngineError, ValidatorNode};
use crate::chain::shared::ChainShared;
use crate::chain::signing::Provider;
use crate::chain::store::{ChainStore, StoreError};
use axum::serve::ListenerExt;
use std::future::IntoFuture;
use tls::server::{reload_on_sighup, ServerTls};
use validator_client::ValidatorClient;
use validator_core::chain::{
    Block, ChainParams, ChainState, Mempool, SpendVerifier, StateSnapshot,
};
use validator_core::primitives::IdentityKey;

/// How long a blind-sign or spend request waits for its block (under the API client's
/// 10 s request timeout; a 503 `not_decided` is safe to retry).
pub const DECISION_TIMEOUT: Duration = Duration::from_secs(8);

/// Unix time in milliseconds (0 if the clock is before 1970).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why the validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The chain store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored chain does not replay to the state hashes recorded with it.
    #[error("stored block {height} replays to a different state than recorded ({reason}); the data directory is corrupt or from another chain")]
    Replay {
        /// The block.
        height: u64,
        /// What differed.
        reason: String,
    },
    /// The engine could not be configured or started.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The application stopped on a fatal error.
    #[error("consensus application: {0}")]
    App(#[from] AppError),
    /// The data directory could not be made.
    #[error("{path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A certificate, key or CA file of `[tls]` is unusable.
    #[error("TLS: {0}")]
    Tls(tls::pem::TlsFileError),
    /// A peer's API client could not be built.
    #[error("peer {url}: {reason}")]
    Peer {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server failed.
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Rebuilds the committed state: the latest stored snapshot whose state hash matches the one
/// recorded for its height (else genesis), then the blocks after it, checking each state
/// hash.
pub fn replay(
    store: &ChainStore,
    params: &Arc<ChainParams>,
    verifier: &dyn SpendVerifier,
) -> Result<ChainState, StartError> {
    let started = Instant::now();
    let mut state = restore_snapshot(store, params)?;
    let from = state.height();
    let top = store.max_height()?;
    for height in from.saturating_add(1)..=top.0 {
        let replay_error = |reason: String| StartError::Replay { height, reason };
        let decided = store
            .decided(Height(height))?
            .ok_or_else(|| replay_error("missing".into()))?;
        let block = Block::decode(&decided.block).map_err(|e| replay_error(e.to_string()))?;
        state = state
            .validate_block(&block, verifier)
            .map_err(|e| replay_error(e.to_string()))?;
        let recorded = store.state_hash(Height(height))?;
        if recorded != Some(*state.state_hash().as_bytes()) {
            return Err(replay_error("state hash differs".into()));
        }
    }
    if top.0 > 0 {
        tracing::info!(
            height = top.0,
            from_snapshot = from,
            replayed = top.0 - from,
            ms = started.elapsed().as_millis() as u64,
            "chain state restored from disk"
        );
    }
    Ok(state)
}

/// The newest usable snapshot's state, or the genesis state.
fn restore_snapshot(
    store: &ChainStore,
    params: &Arc<ChainParams>,
) -> Result<ChainState, StartError> {
    for (height, bytes) in store.snapshots()? {
        let restored = StateSnapshot::decode(&bytes)
            .and_then(|s| ChainState::from_snapshot(Arc::clone(params), s));
        match restored {
            Ok(state)
                if state.height() == height.0
                    && store.state_hash(height)? == Some(*state.state_hash().as_bytes()) =>
            {
                return Ok(state);
            }
            Ok(_) => {
                tracing::warn!(%height, "snapshot does not match its block's state hash; ignored")
            }
            Err(e) => tracing::warn!(%height, error = %e, "unreadable snapshot; ignored"),
        }
    }
    ChainState::from_params(Arc::clone(params)).map_err(|e| StartError::Replay {
        height: 0,
        reason: e.to_string(),
    })
}

fn open_store(dir: &Path) -> Result<ChainStore, StartError> {
    std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    Ok(ChainStore::open(&dir.join("chain.redb"))?)
}

/// Runs the validator until `shutdown` completes (or its consensus application fails).
/// Calls `ready` with the bound HTTP address once it accepts requests.
pub async fn run(
    loaded: Loaded,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), StartError> {
    let Loaded {
        config,
        genesis,
        genesis_toml,
        identity,
        data_dir,
    } = loaded;
    let me = IdentityKey::from(&identity);
    let engine_config = engine_config(&genesis, me, &config.chain)?;
    config.tls.trust().map_err(StartError::Tls)?;
    let server_tls = match config.tls.server_files() {
        Ok(Some((cert, key))) => Some(Arc::new(
            ServerTls::load(cert, key, &[b"http/1.1"]).map_err(StartError::Tls)?,
        )),
        _ => None,
    };
    let listen = config.validator.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr().map_err(StartError::Serve)?;

    let issuer = Arc::new(Issuer::new());
    let verifier: Arc<dyn SpendVerifier + Send + Sync> = Arc::clone(&issuer) as _;
    let params = Arc::new(ChainParams::new(&genesis));
    let store = Arc::new(open_store(&data_dir)?);
    let committed = {
        let store = Arc::clone(&store);
        let params = Arc::clone(&params);
        let verifier = Arc::clone(&verifier);
        tokio::task::spawn_blocking(move || replay(&store, &params, verifier.as_ref()))
            .await
            .map_err(|e| StartError::App(AppError::Worker(e.to_string())))??
    };
    let mempool = Mempool::new(&committed, config.mempool_limits());
    let chain = Arc::new(ChainShared::new(committed, mempool));

    let mut links = Vec::new();
    for v in genesis.validators.iter().filter(|v| v.identity_key != me) {
        let client = ValidatorClient::new(&v.api_url).map_err(|e| StartError::Peer {
            url: v.api_url.clone(),
            reason: e.to_string(),
        })?;
        links.push((v.identity_key, client));
    }
    let peers = Peers::start(
        links,
        Duration::from_secs(10),
        identity.clone(),
        genesis.genesis_hash(),
    );

    let node = ValidatorNode::new(data_dir.clone(), identity.clone(), &genesis, engine_config);
    let (channels, engine) = node
        .start_engine()
        .await
        .map_err(|e| StartError::Engine(EngineError::Start(e.to_string())))?;
    let relay_peers = peers.clone();
    let app = App::new(
        AppParts {
            shared: Arc::clone(&chain),
            store: Arc::clone(&store),
            provider: Provider::new(identity.clone(), genesis.genesis_hash()),
            identity: identity.clone(),
            genesis_hash: genesis.genesis_hash(),
            validators: ValidatorSet::from_genesis(&genesis),
            verifier: Arc::clone(&verifier),
            timing: config.block_timing(),
            snapshot_interval: config.chain.snapshot_interval_blocks,
            relay: Box::new(move |tx| relay_peers.broadcast(tx)),
            clock: unix_now_ms,
            byzantine: byzantine_test_double(),
        },
        channels.network.clone(),
    );
    let mut app_task = tokio::spawn(app.run(channels));

    let shared = Arc::new(Shared {
        chain,
        store,
        params: Arc::clone(&params),
        identity: me,
        issuer,
        peers,
        genesis_toml,
        decision_timeout: DECISION_TIMEOUT,
        admission: Arc::new(Admission::new(&config.api)),
    });
    tracing::info!(
        identity = %me,
        listen = %local,
        chain = %genesis.chain_id,
        data = %data_dir.display(),
        "validator running"
    );
    let app = router(Arc::clone(&shared)).into_make_service_with_connect_info::<SocketAddr>();
    let server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> =
        match server_tls {
            Some(tls) => {
                reload_on_sighup(Arc::clone(&tls)).map_err(StartError::Serve)?;
                let listener = TlsListener::start(listener, tls).map_err(StartError::Serve)?;
                Box::pin(
                    axum::serve(listener.tap_io(|_| {}), app)
                        .with_graceful_shutdown(shutdown)
                        .into_future(),
                )
            }
            None => Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .into_future(),
            ),
        };
    ready(local);
    let outcome = tokio::select! {
        served = server => served.map_err(StartError::Serve),
        app = &mut app_task => match app {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StartError::App(e)),
            Err(e) => Err(StartError::App(AppError::Worker(e.to_string()))),
        },
    };
    if let Err(e) = engine.actor.kill_and_wait(None).await {
        tracing::warn!(error = %e, "stopping the consensus engine");
    }
    app_task.abort();
    tracing::info!("validator stopped");
    outcome
}

/// The Byzantine test double's switch: the environment variable
/// `MIXNET_TEST_BYZANTINE_VALIDATOR=invalid-proposals`, `=conflicting-proposals` or
/// `=bad-dkg-share`, honoured only by
/// debug builds (what
/// `cargo test` runs), never by a release build.
fn byzantine_test_double() -> Byzantine {
    if !cfg!(debug_assertions) {
        return Byzantine::No;
    }
    match std::env::var("MIXNET_TEST_BYZANTINE_VALIDATOR").as_deref() {
        Ok("invalid-proposals") => {
            tracing::warn!("TEST DOUBLE: this validator proposes invalid blocks");
            Byzantine::InvalidProposals
        }
        Ok("conflicting-proposals") => {
            tracing::warn!("TEST DOUBLE: this validator proposes two blocks in each of its rounds");
            Byzantine::ConflictingProposals
        }
        Ok("bad-dkg-share") => {
            tracing::warn!("TEST DOUBLE: this validator deals a bad share in the key generation");
            Byzantine::BadDkgShare
        }
        _ => Byzantine::No,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chain::context::{ChainContext, ValueId};
    use malachitebft_core_types::{CommitCertificate, Round};
    use validator_core::chain::Transaction;
    use validator_core::test_util::{fake_spend, genesis, next_block, FakeSpends};

    fn cert(height: u64) -> CommitCertificate<ChainContext> {
        CommitCertificate {
            height: Height(height),
            round: Round::new(0),
            value_id: ValueId([0; 32]),
            commit_signatures: Vec::new(),
        }
    }

    /// A store with `blocks` decided blocks (a spend each), a snapshot at every height in
    /// `snapshots` (garbled where `garble`); returns it with the final state.
    fn chain(dir: &Path, blocks: u64, snapshots: &[u64], garble: bool) -> (ChainStore, ChainState) {
        let g = genesis(1, 10, 4, 3);
        let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
        let mut state = ChainState::genesis(&g).unwrap();
        for h in 1..=blocks {
            let spend = Transaction::Spend(Box::new(fake_spend(h, 1, 1)));
            let block = next_block(&state, g.genesis_time_unix_ms + h, vec![spend]);
            state = state.validate_block(&block, &FakeSpends).unwrap();
            let mut snapshot = snapshots.contains(&h).then(|| state.snapshot().encode());
            if garble {
                if let Some(s) = snapshot.as_mut() {
                    s.truncate(s.len() / 2);
                }
            }
            store
                .commit(
                    Height(h),
                    &block.encode(),
                    &cert(h),
                    state.state_hash().as_bytes(),
                    snapshot.as_deref(),
                )
                .unwrap();
        }
        (store, state)
    }

    #[test]
    fn a_restart_restores_the_latest_snapshot_and_replays_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (store, state) = chain(dir.path(), 9, &[4, 8], false);
        let params = Arc::clone(state.params());
        let restored = restore_snapshot(&store, &params).unwrap();
        assert_eq!(restored.height(), 8, "the newest snapshot");
        let replayed = replay(&store, &params, &FakeSpends).unwrap();
        assert_eq!(replayed.state_hash(), state.state_hash());
        assert_eq!(replayed.spent_count(), 9);
    }

    #[test]
    fn unusable_snapshots_fall_back_to_replaying_from_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let (store, state) = chain(dir.path(), 5, &[2, 4], true);
        let params = Arc::clone(state.params());
        assert_eq!(restore_snapshot(&store, &params).unwrap().height(), 0);
        let replayed = replay(&store, &params, &FakeSpends).unwrap();
        assert_eq!(replayed.state_hash(), state.state_hash());
    }
}
