//! `mixnode run`: the router-core runtime in mix mode, until SIGINT or SIGTERM.
//!
//! Start-up: config and keys, the replay filter restored from disk (snapshot and journal),
//! the next-hop policy (the validators' topology window, or any next hop with the dangerous
//! flag), Noise on links ([`node::links`]), the shards, the key rotation ([`node::rotation`]), the metrics endpoint, the pid
//! file. Shutdown: stop accepting, let held packets leave within the grace period, persist
//! the replay filters, exit 0 ([`node::lifecycle`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use node::cli::RunArgs;
use node::config::ConfigFile;
use node::home::NodePaths;
use node::keys::NodeKeys;
use node::lifecycle::{stop_router, Lifecycle};
use node::links::LinkPlan;
use node::rotation::{ChainSource, SphinxKeyService};
use node::topology::{TopologyStatus, TopologyWatcher, ValidatorTopology};
use node::NodeError;
use router_core::pipeline::NextHopPolicy;
use router_core::runtime::{ExtraMetrics, PolicySetter, Router};

use crate::config::Config;

/// Runs the node until a signal; returns once it has shut down cleanly.
pub fn run(paths: &NodePaths, args: &RunArgs) -> Result<(), NodeError> {
    let config = Config::load(&paths.config())?;
    node::config::trust_ca_files(&config.tls, &paths.config())?;
    let keys = NodeKeys::load(paths)?;
    let cpus = args.cpus()?;
    let policy = next_hop_policy(paths, &config, args)?;
    let (mut sphinx, ring) =
        SphinxKeyService::prepare(paths, &keys, &config.engine, &paths.config())?;
    let mut router_config =
        config
            .engine
            .router_config(config.node.listen, cpus.clone(), ring, sphinx.sink());
    router_config.policy = policy;
    let links = LinkPlan::new(&config.engine, args)?.with_own(config.node.announce, &keys);
    links.apply(&mut router_config, &keys);

    let mut lifecycle = Lifecycle::catch_signals()?;
    let router = Router::start(router_config)?;
    tracing::info!(
        id = %config.node.id,
        listen = %router.local_addr(),
        shards = cpus.len(),
        ?cpus,
        identity = %keys.identity_public_bs58(),
        sphinx = %keys.sphinx_public_bs58(),
        noise = %keys.noise_public_bs58(),
        noise_links = links.mode.name(),
        "mixnode running"
    );
    sphinx.start(
        router.key_setter(),
        chain_source(paths, &config),
        keys.identity.clone(),
    )?;
    let status = Arc::new(TopologyStatus::default());
    let watcher = if args.danger_allow_any_next_hop {
        None
    } else {
        Some(TopologyWatcher::start(
            ValidatorTopology::new(
                config.node.validators.clone(),
                paths.genesis(),
                config.node.genesis_hash,
            ),
            Duration::from_millis(config.engine.topology_refresh_ms),
            Arc::clone(&status),
            {
                let mut next_hops = install_next_hops(router.policy_setter());
                let mut peers = links.installer(router.link_setter());
                move |window: &node::topology::TopologyWindow| {
                    next_hops(window);
                    peers(window);
                }
            },
        )?)
    };
    let keys_metrics = sphinx.renderer();
    let extra: ExtraMetrics = Box::new(move |out: &mut String| {
        status.render(out);
        keys_metrics(out);
    });
    lifecycle.serve_metrics(args.metrics_listen, router.stats(), extra)?;
    lifecycle.write_pid_file(&paths.pid_file());

    lifecycle.wait_for_signal();
    let stopped = stop_router(router);
    drop(watcher);
    lifecycle.finish(stopped, sphinx)
}

/// Where the key rotation asks the chain: the configured validators, if any.
fn chain_source(paths: &NodePaths, config: &Config) -> Option<ChainSource> {
    (!config.node.validators.is_empty()).then(|| ChainSource {
        validators: config.node.validators.clone(),
        genesis_pin: paths.genesis(),
        expected_genesis: config.node.genesis_hash,
    })
}

/// Any next hop with the dangerous flag; otherwise none until the first verified topology
/// arrives. A node with no validator to get one from refuses to start.
fn next_hop_policy(
    paths: &NodePaths,
    config: &Config,
    args: &RunArgs,
) -> Result<NextHopPolicy, NodeError> {
    if args.danger_allow_any_next_hop {
        tracing::warn!(
            "--danger-allow-any-next-hop: forwarding to ANY address a packet names. \
             This turns the node into an open relay; use it only for tests and benchmarks."
        );
        return Ok(NextHopPolicy::Any);
    }
    if config.node.validators.is_empty() {
        return Err(NodeError::Refused(format!(
            "refusing to start: {} lists no validator, so this node has no topology to check \
             next hops against and would forward to any address. Add validators \
             (`mixnode init --validator URL`, or `validators` in the config), or for tests and \
             benchmarks only pass --danger-allow-any-next-hop",
            paths.config().display()
        )));
    }
    Ok(NextHopPolicy::Only(Default::default()))
}

/// The watcher's callback: every node of the window becomes an allowed next hop (the shards
/// are told only when the set changes).
fn install_next_hops(
    setter: PolicySetter,
) -> impl FnMut(&node::topology::TopologyWindow) + Send + 'static {
    let mut last: Option<HashSet<SocketAddr>> = None;
    move |window| {
        let hops = window.addresses();
        if last.as_ref() != Some(&hops) {
            tracing::info!(nodes = hops.len(), "topology updated");
            setter.set(NextHopPolicy::Only(hops.clone()));
            last = Some(hops);
        }
    }
}
