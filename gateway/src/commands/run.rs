//! `gateway run`: the exit engine, the client server, the mailbox, until SIGINT or SIGTERM.
//!
//! Start-up: config, keys and database; the replay filter restored from disk (snapshot and
//! journal); the key rotation ([`node::rotation`]); the router in
//! exit mode (its shards peel last hops and hand them to the delivery pump; it forwards no
//! mix traffic: a gateway is not a mix); the tokio side (pump, client server, forwarder to
//! layer 1, mailbox purge); the topology watcher for the entry policy; metrics; the pid
//! file ([`node::lifecycle`]). Shutdown: the router stops and the pump commits what is still
//! queued, the replay filters are saved, exit 0.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use gateway_protocol::handshake::ReplayWindow;
use node::config::ConfigFile;
use node::home::NodePaths;
use node::keys::NodeKeys;
use node::lifecycle::{stop_router, Lifecycle};
use node::rotation::{ChainSource, SphinxKeyService};
use node::topology::{TopologyStatus, TopologyWatcher, ValidatorTopology};
use node::NodeError;
use router_core::pipeline::{FinalHops, NextHopPolicy};
use router_core::runtime::{ExtraMetrics, LinkSetter, Router, RouterConfig};
use tls::server::{reload_on_sighup, ServerTls};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{database, Config};
use crate::connection::{self, BandwidthMode, Shared};
use crate::credentials::CredentialVerifier;
use crate::delivery::{exit_handler, run_pump, InFlight, Inbound, Online};
use crate::entry_policy::EntryPolicy;
use crate::error::GatewayError;
use crate::forwarder::{Forwarder, ForwarderLinks, ForwarderSettings};
use crate::source_limits::SourceLimits;
use crate::stats::GatewayStats;
use crate::store::{MailboxLimits, Store};
use node::links::LinkPlan;

/// The flags of `gateway run`: every node's, and the gateway's own.
#[derive(Args, Debug, Clone, Default)]
pub struct GatewayRunArgs {
    /// Every node's run flags. `--danger-allow-any-next-hop` here sends client packets to any
    /// first hop, not only layer-1 topology nodes (tests and benchmarks only).
    #[command(flatten)]
    pub node: node::cli::RunArgs,
    /// Let clients send without bandwidth credentials (local testing only).
    #[arg(long)]
    pub free_bandwidth_for_testing: bool,
}

/// Deliveries queued between the shards and the pump (each also needs its bytes from the
/// in-flight budget).
const PUMP_QUEUE: usize = 65_536;
/// Live authentication requests one identity may have in the replay memory (an honest client
/// connects a few times per freshness window at most).
const REPLAY_PER_IDENTITY: usize = 64;
/// Bytes of deliveries on their way to clients or the mailbox at most.
const IN_FLIGHT_BYTES: usize = 64 << 20;

/// What the gateway runs with, read and checked before anything starts.
struct Setup {
    config: Config,
    keys: NodeKeys,
    cpus: Vec<usize>,
    policy: Arc<EntryPolicy>,
    store: Arc<Store>,
    stats: Arc<GatewayStats>,
    tls: Option<Arc<ServerTls>>,
    links: LinkPlan,
    forwarder_links: Arc<ForwarderLinks>,
}

/// Runs the gateway until a signal.
pub fn run(paths: &NodePaths, args: &GatewayRunArgs) -> Result<(), GatewayError> {
    let (setup, bandwidth) = prepare(paths, args)?;
    let (mut sphinx, ring) =
        SphinxKeyService::prepare(paths, &setup.keys, &setup.config.engine, &paths.config())?;
    let (pump_tx, pump_rx) = mpsc::channel(PUMP_QUEUE);
    let mut router_config = setup.config.engine.router_config(
        setup.config.gateway.mix_listen,
        setup.cpus.clone(),
        ring,
        sphinx.sink(),
    );
    exit_role(&mut router_config, pump_tx, &setup.stats);
    setup.links.apply(&mut router_config, &setup.keys);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gateway-clients")
        .enable_all()
        .build()
        .map_err(|source| GatewayError::ClientSide {
            what: "cannot start the client runtime".into(),
            source,
        })?;
    let mut lifecycle = Lifecycle::catch_signals()?;
    let router = Router::start(router_config)?;
    let (clients_addr, pump) = start_client_side(&runtime, &setup, bandwidth, pump_rx)?;
    let validators = &setup.config.gateway.validators;
    sphinx.start(
        router.key_setter(),
        (!validators.is_empty()).then(|| ChainSource {
            validators: validators.clone(),
            genesis_pin: paths.genesis(),
            expected_genesis: setup.config.gateway.genesis_hash,
        }),
        setup.keys.identity.clone(),
    )?;
    let topology = Arc::new(TopologyStatus::default());
    let watcher = watch_entry_policy(paths, args, &setup, &topology, router.link_setter())?;
    let (stats, status) = (setup.stats.clone(), topology.clone());
    let keys_metrics = sphinx.renderer();
    let extra: ExtraMetrics = Box::new(move |out: &mut String| {
        stats.render(out);
        status.render(out);
        keys_metrics(out);
    });
    lifecycle.serve_metrics(args.node.metrics_listen, router.stats(), extra)?;
    lifecycle.write_pid_file(&paths.pid_file());
    tracing::info!(
        id = %setup.config.gateway.id,
        mix = %router.local_addr(),
        clients = %clients_addr,
        shards = setup.cpus.len(),
        identity = %setup.keys.identity_public_bs58(),
        sphinx = %setup.keys.sphinx_public_bs58(),
        noise = %setup.keys.noise_public_bs58(),
        noise_links = setup.links.mode.name(),
        "gateway running"
    );

    lifecycle.wait_for_signal();
    let stopped = stop_router(router);
    drop(watcher);
    drain(runtime, pump);
    Ok(lifecycle.finish(stopped, sphinx)?)
}

/// Config, keys, CPUs, policies and the database: everything checked before the engine
/// starts, so a mistake is reported without side effects.
fn prepare(
    paths: &NodePaths,
    args: &GatewayRunArgs,
) -> Result<(Setup, BandwidthMode), GatewayError> {
    let config = Config::load(&paths.config())?;
    let tls_files = config
        .tls
        .resolved(paths.config().parent().unwrap_or(Path::new(".")));
    tls_files.trust()?;
    let tls = match tls_files.server_files() {
        Ok(Some((cert, key))) => Some(Arc::new(ServerTls::load(cert, key, &[])?)),
        _ => None,
    };
    let keys = NodeKeys::load(paths)?;
    let cpus = args.node.cpus()?;
    let danger = args.node.danger_allow_any_next_hop;
    let validators = &config.gateway.validators;
    if validators.is_empty() && !(danger && args.free_bandwidth_for_testing) {
        return Err(NodeError::Refused(format!(
            "refusing to start: {} lists no validator, so this gateway has no topology to check \
             first hops against and no key to verify credentials with. Add validators \
             (`gateway init --validator URL`), or for local tests only pass both \
             --danger-allow-any-next-hop and --free-bandwidth-for-testing",
            paths.config().display()
        ))
        .into());
    }
    let policy = Arc::new(if danger {
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
        let gateway = validator_core::primitives::IdentityKey::from(&keys.identity);
        let clients = &config.clients;
        BandwidthMode::Credentials(Box::new(
            CredentialVerifier::new(gateway, validators)?.with_check_slots(
                clients.concurrent_credential_checks,
                Duration::from_millis(clients.credential_check_wait_ms),
            ),
        ))
    };
    let mailbox = &config.mailbox;
    let store = Arc::new(Store::open(
        &database(paths),
        MailboxLimits {
            max_messages: mailbox.max_messages_per_client,
            max_bytes: mailbox.max_bytes_per_client,
            max_total_bytes: mailbox.max_total_bytes,
            max_age_ms: mailbox.max_age_secs.saturating_mul(1000),
            require_bandwidth: !args.free_bandwidth_for_testing,
        },
    )?);
    let links =
        LinkPlan::new(&config.engine, &args.node)?.with_own(config.gateway.mix_announce, &keys);
    let forwarder_links = Arc::new(ForwarderLinks::new(
        links.mode,
        keys.noise.clone(),
        Duration::from_millis(config.engine.noise_handshake_timeout_ms),
        links.initial(),
    ));
    let stats = Arc::new(GatewayStats::default());
    stats
        .mailbox_messages
        .store(store.total_stored()?, Ordering::Relaxed);
    let setup = Setup {
        config,
        keys,
        cpus,
        policy,
        store,
        stats,
        tls,
        links,
        forwarder_links,
    };
    Ok((setup, bandwidth))
}

/// The router as an exit: shards peel last hops and hand them to the delivery pump, and
/// forward no mix traffic (a gateway is not a mix).
fn exit_role(config: &mut RouterConfig, pump: mpsc::Sender<Inbound>, stats: &Arc<GatewayStats>) {
    config.mixer.final_hops = FinalHops::Deliver;
    config.policy = NextHopPolicy::Only(Default::default());
    config.deliveries = Some(exit_handler(
        pump,
        InFlight::new(IN_FLIGHT_BYTES),
        stats.clone(),
    ));
}

/// The tokio side: the forwarder to layer 1, the delivery pump, the client server and the
/// mailbox purge. Returns the client listener's address and the pump's task.
fn start_client_side(
    runtime: &Runtime,
    setup: &Setup,
    bandwidth: BandwidthMode,
    pump_rx: mpsc::Receiver<Inbound>,
) -> Result<(SocketAddr, JoinHandle<()>), GatewayError> {
    let engine = &setup.config.engine;
    let forwarder = {
        let _guard = runtime.enter();
        Forwarder::new(
            ForwarderSettings {
                queue_capacity: engine.peer_queue_capacity,
                connect_timeout: Duration::from_millis(engine.connect_timeout_ms),
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_secs(10),
                version: engine.outgoing_framing(),
            },
            setup.forwarder_links.clone(),
            setup.stats.clone(),
        )
    };
    let online = Arc::new(Online::default());
    let online_for_expiry = online.clone();
    let shared = Arc::new(Shared {
        identity: setup.keys.identity.clone(),
        store: setup.store.clone(),
        online: online.clone(),
        forwarder: forwarder.clone(),
        policy: setup.policy.clone(),
        bandwidth,
        stats: setup.stats.clone(),
        replay: Mutex::new(ReplayWindow::new(
            setup.config.clients.auth_window_ms,
            1 << 20,
            REPLAY_PER_IDENTITY,
        )),
        settings: setup.config.clients.clone(),
        mailbox_batch: setup.config.mailbox.delivery_batch,
        sessions: AtomicU64::new(0),
        sources: Mutex::new(SourceLimits::new(setup.config.clients.source_settings())),
        origin: tokio::time::Instant::now(),
        tls: setup.tls.clone(),
    });
    if let Some(tls) = &setup.tls {
        let _runtime = runtime.enter();
        reload_on_sighup(tls.clone()).map_err(|source| GatewayError::ClientSide {
            what: "cannot watch for SIGHUP (TLS certificate reload)".into(),
            source,
        })?;
    }
    let clients_listen = setup.config.gateway.clients_listen;
    let bind_error = |source| GatewayError::ClientSide {
        what: format!("cannot listen for clients on {clients_listen}"),
        source,
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(clients_listen))
        .map_err(bind_error)?;
    let clients_addr = listener.local_addr().map_err(bind_error)?;
    let pump = runtime.spawn(run_pump(
        pump_rx,
        online,
        setup.store.clone(),
        forwarder,
        setup.policy.clone(),
        setup.stats.clone(),
    ));
    runtime.spawn(connection::serve(listener, shared));
    runtime.spawn(purge_loop(setup.store.clone(), setup.stats.clone()));
    runtime.spawn(expire_unused_loop(
        setup.store.clone(),
        setup.stats.clone(),
        online_for_expiry,
        setup
            .config
            .clients
            .unused_registration_expiry_secs
            .saturating_mul(1000),
    ));
    Ok((clients_addr, pump))
}

/// The entry policy follows the layer-1 mixnodes of the verified topology window, unless
/// any first hop is allowed.
fn watch_entry_policy(
    paths: &NodePaths,
    args: &GatewayRunArgs,
    setup: &Setup,
    status: &Arc<TopologyStatus>,
    link_setter: LinkSetter,
) -> Result<Option<TopologyWatcher>, GatewayError> {
    if args.node.danger_allow_any_next_hop {
        return Ok(None);
    }
    let policy = setup.policy.clone();
    let mut engine_links = setup.links.installer(link_setter);
    let (plan, forwarder_links) = (setup.links.clone(), setup.forwarder_links.clone());
    Ok(Some(TopologyWatcher::start(
        ValidatorTopology::new(
            setup.config.gateway.validators.clone(),
            paths.genesis(),
            setup.config.gateway.genesis_hash,
        ),
        Duration::from_millis(setup.config.engine.topology_refresh_ms),
        status.clone(),
        move |window| {
            let hops = window.layer1();
            tracing::debug!(first_hops = hops.len(), "entry policy updated");
            policy.set(hops);
            engine_links(window);
            forwarder_links.set_peers(plan.from_window(window));
        },
    )?))
}

/// After the router stopped: the shards are gone and with them the pump's senders, so the
/// pump hands out or commits what is still queued. Live deliveries a connection had not
/// written yet are lost with the runtime; they were never acked, so their senders
/// retransmit.
fn drain(runtime: Runtime, pump: JoinHandle<()>) {
    let drained =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), pump).await });
    if drained.is_err() {
        tracing::warn!("the delivery pump did not finish within 10 s");
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
}

/// How often unused registrations are looked for.
const EXPIRE_UNUSED_EVERY: Duration = Duration::from_secs(3600);

/// Deletes unused registrations ([`Store::expire_unused`]) every hour, the first at start.
async fn expire_unused_loop(
    store: Arc<Store>,
    stats: Arc<GatewayStats>,
    online: Arc<Online>,
    unused_ms: u64,
) {
    let mut every = tokio::time::interval(EXPIRE_UNUSED_EVERY);
    loop {
        every.tick().await;
        let (store, online) = (store.clone(), online.clone());
        let pass = tokio::task::spawn_blocking(move || {
            store.expire_unused(crate::now_ms(), unused_ms, |c| {
                online.bandwidth(c).is_some()
            })
        });
        match pass.await {
            Ok(Ok(0)) => {}
            Ok(Ok(expired)) => {
                GatewayStats::add(&stats.registrations_expired, expired);
                tracing::info!(expired, "unused registrations deleted");
            }
            Ok(Err(error)) => tracing::warn!(%error, "expiring registrations failed"),
            Err(error) => tracing::warn!(%error, "expiring registrations: task failed"),
        }
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
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |v| Some(v.saturating_sub(purged)),
                );
                tracing::info!(purged, "expired mailbox messages purged");
            }
            Ok(Err(error)) => tracing::warn!(%error, "mailbox purge failed"),
            Err(error) => tracing::warn!(%error, "mailbox purge task failed"),
        }
    }
}
