//! `gateway run`: the exit engine, the client server, the mailbox, until SIGINT or SIGTERM.
//!
//! Start-up: config, keys and database; the replay filter restored from disk; the router in
//! exit mode (its shards peel last hops and hand them to the delivery pump; it forwards no
//! mix traffic: a gateway is not a mix); the tokio side (pump, client server, forwarder to
//! layer 1, topology watch, mailbox purge); metrics; the pid file. Shutdown: the router
//! stops and the pump commits what is still queued, the replay filter is saved, exit 0.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mixnode::commands::run::{choose_cpus, load_replay_filter, router_config};
use mixnode::keys::NodeKeys;
use router_core::pipeline::{FinalHops, NextHopPolicy};
use router_core::runtime::{ExtraMetrics, MetricsServer, Router};
use signal_hook::consts::{SIGINT, SIGTERM};
use tokio::sync::mpsc;

use crate::config::{Config, GatewayPaths};
use crate::connection::{self, BandwidthMode, Shared};
use crate::credentials::CredentialVerifier;
use crate::delivery::{exit_handler, run_pump, InFlight, Online};
use crate::entry_policy::{self, EntryPolicy};
use crate::forwarder::{Forwarder, ForwarderSettings};
use crate::protocol::handshake::ReplayWindow;
use crate::stats::GatewayStats;
use crate::store::{MailboxLimits, Store};

/// What `run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Shard count (first N CPUs).
    pub shards: Option<usize>,
    /// Explicit CPU list.
    pub cpus: Option<Vec<usize>>,
    /// Prometheus endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Send client packets to any first hop (tests and benchmarks).
    pub danger_allow_any_next_hop: bool,
    /// Do not charge for bandwidth (local testing).
    pub free_bandwidth_for_testing: bool,
}

/// Deliveries queued between the shards and the pump (each also needs its bytes from the
/// in-flight budget).
const PUMP_QUEUE: usize = 65_536;
/// Bytes of deliveries on their way to clients or the mailbox at most.
const IN_FLIGHT_BYTES: usize = 64 << 20;

/// Runs the gateway until a signal.
pub fn run(paths: &GatewayPaths, args: &RunArgs) -> Result<(), String> {
    let config_path = paths.node.config();
    let config = Config::load(&config_path).map_err(|e| e.to_string())?;
    let keys = NodeKeys::load(&paths.node.identity_key(), &paths.node.sphinx_key())
        .map_err(|e| e.to_string())?;
    let cpus = choose_cpus(&mixnode::commands::run::RunArgs {
        shards: args.shards,
        cpus: args.cpus.clone(),
        ..Default::default()
    })?;
    let validators = config.gateway.validators.clone();
    if validators.is_empty() && !(args.danger_allow_any_next_hop && args.free_bandwidth_for_testing)
    {
        return Err(format!(
            "refusing to start: {} lists no validator, so this gateway has no topology to check \
             first hops against and no key to verify credentials with. Add validators \
             (`gateway init --validator URL`), or for local tests only pass both \
             --danger-allow-any-next-hop and --free-bandwidth-for-testing",
            config_path.display()
        ));
    }
    let policy = Arc::new(if args.danger_allow_any_next_hop {
        tracing::warn!(
            "--danger-allow-any-next-hop: client packets go to ANY first hop they name; \
             use it only for tests and benchmarks"
        );
        EntryPolicy::any()
    } else {
        EntryPolicy::empty()
    });
    let bandwidth = if args.free_bandwidth_for_testing {
        tracing::warn!(
            "--free-bandwidth-for-testing: clients send without paying; never use this on a \
             public gateway"
        );
        BandwidthMode::FreeForTesting
    } else {
        BandwidthMode::Credentials(Box::new(CredentialVerifier::new(&validators)?))
    };

    let mailbox = &config.mailbox;
    let store = Arc::new(
        Store::open(
            &paths.database(),
            MailboxLimits {
                max_messages: mailbox.max_messages_per_client,
                max_bytes: mailbox.max_bytes_per_client,
                max_total_bytes: mailbox.max_total_bytes,
                max_age_ms: mailbox.max_age_secs.saturating_mul(1000),
            },
        )
        .map_err(|e| e.to_string())?,
    );
    let stats = Arc::new(GatewayStats::default());
    stats.mailbox_messages.store(
        store.total_stored().map_err(|e| e.to_string())?,
        std::sync::atomic::Ordering::Relaxed,
    );

    let replay_path = paths.node.replay_filter();
    let replay = load_replay_filter(
        &replay_path,
        keys.sphinx.public_key(),
        &config.engine,
        &config_path,
    )?;
    let (pump_tx, pump_rx) = mpsc::channel(PUMP_QUEUE);
    let mut router_config = router_config(
        &config.engine,
        config.gateway.mix_listen,
        cpus.clone(),
        &keys,
        replay.clone(),
    );
    router_config.mixer.final_hops = FinalHops::Deliver;
    router_config.policy = NextHopPolicy::Only(Default::default());
    router_config.deliveries = Some(exit_handler(
        pump_tx,
        InFlight::new(IN_FLIGHT_BYTES),
        stats.clone(),
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gateway-clients")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let router = Router::start(router_config).map_err(|e| e.to_string())?;

    let engine = &config.engine;
    let forwarder = {
        let _guard = runtime.enter();
        Forwarder::new(
            ForwarderSettings {
                queue_capacity: engine.peer_queue_capacity,
                connect_timeout: Duration::from_millis(engine.connect_timeout_ms),
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_secs(10),
                version: router_config_version(engine.outgoing_framing_version),
            },
            stats.clone(),
        )
    };
    let online = Arc::new(Online::default());
    let shared = Arc::new(Shared {
        identity: keys.identity.clone(),
        store: store.clone(),
        online: online.clone(),
        forwarder: forwarder.clone(),
        policy: policy.clone(),
        bandwidth,
        stats: stats.clone(),
        replay: Mutex::new(ReplayWindow::new(config.clients.auth_window_ms, 1 << 20)),
        settings: config.clients.clone(),
        mailbox_batch: config.mailbox.delivery_batch,
        sessions: AtomicU64::new(0),
    });

    let clients_listen = config.gateway.clients_listen;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(clients_listen))
        .map_err(|e| format!("cannot listen for clients on {clients_listen}: {e}"))?;
    let clients_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let pump = runtime.spawn(run_pump(
        pump_rx,
        online,
        store.clone(),
        forwarder,
        policy.clone(),
        stats.clone(),
    ));
    runtime.spawn(connection::serve(listener, shared));
    if !args.danger_allow_any_next_hop {
        runtime.spawn(entry_policy::watch(
            validators,
            paths.node.genesis(),
            Duration::from_millis(engine.topology_refresh_ms),
            policy,
        ));
    }
    runtime.spawn(purge_loop(store.clone(), stats.clone()));

    let metrics = match args.metrics_listen {
        Some(addr) => {
            let gateway_stats = stats.clone();
            let extra: ExtraMetrics = Box::new(move |out: &mut String| gateway_stats.render(out));
            let server = MetricsServer::start(addr, router.stats().to_vec(), Some(extra))
                .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
            tracing::info!(addr = %server.local_addr(), "metrics at /metrics");
            Some(server)
        }
        None => None,
    };
    let pid_file = paths.pid_file();
    if let Err(error) = std::fs::write(&pid_file, format!("{}\n", std::process::id())) {
        tracing::warn!(path = %pid_file.display(), %error, "cannot write the pid file");
    }
    tracing::info!(
        id = %config.gateway.id,
        mix = %router.local_addr(),
        clients = %clients_addr,
        shards = cpus.len(),
        identity = %keys.identity_public_bs58(),
        sphinx = %keys.sphinx_public_bs58(),
        "gateway running"
    );

    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "shutting down");
    }
    router.stopper().stop();
    let joined = router.join();
    // The shards are gone and with them the pump's senders: the pump hands out or commits
    // what is still queued. Live deliveries a connection had not written yet are lost with
    // the runtime; they were never acked, so their senders retransmit.
    let drained =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), pump).await });
    if drained.is_err() {
        tracing::warn!("the delivery pump did not finish within 10 s");
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(metrics);
    let saved = replay.save(&replay_path);
    let _ = std::fs::remove_file(&pid_file);
    joined.map_err(|e| e.to_string())?;
    saved.map_err(|e| format!("cannot persist the replay filter: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

fn router_config_version(version: u8) -> router_core::wire::FramingVersion {
    if version == 7 {
        router_core::wire::FramingVersion::V7
    } else {
        router_core::wire::FramingVersion::V8
    }
}

async fn purge_loop(store: Arc<Store>, stats: Arc<GatewayStats>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.purge_expired(crate::now_ms())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(purged)) => {
                GatewayStats::add(&stats.purged, purged);
                let _ = stats.mailbox_messages.fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |v| Some(v.saturating_sub(purged)),
                );
                tracing::info!(purged, "expired mailbox messages purged");
            }
            Ok(Err(error)) => tracing::warn!(%error, "mailbox purge failed"),
            Err(error) => tracing::warn!(%error, "mailbox purge task failed"),
        }
    }
}
