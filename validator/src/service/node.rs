//! A running validator: the HTTP server, the epoch ticker and the peer links on one tokio
//! runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::config::Loaded;
use super::error::ServiceError;
use super::http::{router, Shared};
use super::peers::Peers;
use super::state::{EpochClosed, ValidatorState};
use validator_client::ValidatorClient;

/// Longest the ticker sleeps before looking at the clock again.
const TICK_MAX_SLEEP: Duration = Duration::from_millis(500);

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
    /// The state could not be built (e.g. the identity is not in the genesis).
    #[error(transparent)]
    State(#[from] ServiceError),
    /// A peer URL is unusable.
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

/// Runs the validator until `shutdown` completes. Calls `ready` with the bound address once
/// it accepts requests.
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
        issuer,
    } = loaded;
    let listen = config.validator.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr().map_err(StartError::Serve)?;

    let coconut_index = issuer.as_ref().map(|i| i.index());
    let (state, first) = ValidatorState::new(
        genesis.clone(),
        identity,
        config.pool_limits(),
        coconut_index,
        unix_now_ms(),
    )?;
    let me = state.identity();
    let deadline = Duration::from_millis(state.schedule().grace_ms().max(2_000));
    let mut links = Vec::new();
    for v in genesis.validators.iter().filter(|v| v.identity_key != me) {
        let client = ValidatorClient::new(&v.api_url).map_err(|e| StartError::Peer {
            url: v.api_url.clone(),
            reason: e.to_string(),
        })?;
        links.push((v.identity_key, client));
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        issuer: issuer.map(Arc::new),
        peers: Peers::start(links, deadline),
        genesis_toml,
        clock: unix_now_ms,
    });
    for message in first {
        shared.peers.broadcast(message);
    }
    tracing::info!(
        identity = %me,
        listen = %local,
        chain = %genesis.chain_id,
        coconut_index,
        "validator running"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let ticker = tokio::spawn(tick_loop(Arc::clone(&shared), stop_rx));
    ready(local);
    let served = axum::serve(listener, router(Arc::clone(&shared)))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = ticker.await;
    tracing::info!("validator stopped");
    served.map_err(StartError::Serve)
}

async fn tick_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let wait = match shared.state() {
            Ok(s) => Duration::from_millis(s.next_deadline().saturating_sub(unix_now_ms())),
            Err(e) => {
                tracing::error!(error = %e, "ticker stops");
                return;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.min(TICK_MAX_SLEEP)) => {}
            _ = stop.changed() => return,
        }
        let ticked = shared.state().and_then(|mut s| s.tick(unix_now_ms()));
        match ticked {
            Ok((closed, out)) => {
                closed.iter().for_each(log_closed);
                for message in out {
                    shared.peers.broadcast(message);
                }
            }
            Err(e) => tracing::error!(error = %e, "closing an epoch failed"),
        }
    }
}

fn log_closed(c: &EpochClosed) {
    let rejected = c.results.iter().filter(|(_, r)| r.is_err()).count();
    for (id, result) in &c.results {
        if let Err(e) = result {
            tracing::info!(epoch = %c.epoch, statement = %id, error = %e, "statement rejected");
        }
    }
    tracing::info!(
        epoch = %c.epoch,
        applied = c.results.len() - rejected,
        rejected,
        next_topology = %c.next_topology,
        mixnodes = c.next_sizes.0,
        gateways = c.next_sizes.1,
        "epoch closed"
    );
}
