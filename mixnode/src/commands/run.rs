//! `mixnode run`: the router-core runtime in mix mode, until SIGINT or SIGTERM.
//!
//! Start-up: config and keys, the replay filter restored from disk (a restart must not reopen
//! the replay window), the next-hop policy (the validators' topology, or any next hop with the
//! dangerous flag), the shards, the metrics endpoint, the pid file. Shutdown: stop accepting,
//! let held packets leave within the grace period, persist the replay filter, exit 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use router_core::crypto::x25519::detected_backend;
use router_core::mix::{
    DropPolicy, FreshReason, LoadOutcome, ReplayFilter, ReplayFilterParams, WheelConfig,
};
use router_core::pipeline::{BatchPolicy, FinalHops, MixerConfig, NextHopPolicy};
use router_core::runtime::{ExtraMetrics, MetricsServer, Router, RouterConfig, ShardSettings};
use router_core::wire::FramingVersion;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::config::{Config, EngineSection};
use crate::home::NodePaths;
use crate::keys::NodeKeys;
use crate::topology::{TopologyStatus, TopologyWatcher};

/// What `run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Shard count (first N CPUs).
    pub shards: Option<usize>,
    /// Explicit CPU list (one shard per CPU).
    pub cpus: Option<Vec<usize>>,
    /// Prometheus endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Forward to any next hop (tests and benchmarks).
    pub danger_allow_any_next_hop: bool,
}

/// The CPUs to run shards on.
pub fn choose_cpus(args: &RunArgs) -> Result<Vec<usize>, String> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(cpus) = &args.cpus {
        if cpus.is_empty() {
            return Err("--cpus needs at least one CPU".into());
        }
        if let Some(bad) = cpus.iter().find(|cpu| **cpu >= online) {
            return Err(format!(
                "--cpus: CPU {bad} does not exist (this machine has {online})"
            ));
        }
        return Ok(cpus.clone());
    }
    match args.shards {
        Some(0) => Err("--shards must be at least 1".into()),
        Some(n) if n > online => Err(format!(
            "--shards {n}: this machine has {online} CPUs; shards are pinned one per CPU"
        )),
        Some(n) => Ok((0..n).collect()),
        None => Ok((0..online).collect()),
    }
}

/// Parses `--cpus 0,2-3`.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--cpus: {s:?} is not a CPU number"))
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (parse(from)?, parse(to)?);
                if from > to {
                    return Err(format!("--cpus: range {part} is backwards"));
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(parse(part)?),
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = cpus.iter().find(|c| !seen.insert(**c)) {
        return Err(format!("--cpus: CPU {dup} is listed twice"));
    }
    Ok(cpus)
}

/// Runs the node until a signal; returns once it has shut down cleanly.
pub fn run(paths: &NodePaths, args: &RunArgs) -> Result<(), String> {
    let config = Config::load(&paths.config()).map_err(|e| e.to_string())?;
    let keys =
        NodeKeys::load(&paths.identity_key(), &paths.sphinx_key()).map_err(|e| e.to_string())?;
    let cpus = choose_cpus(args)?;

    let policy = if args.danger_allow_any_next_hop {
        tracing::warn!(
            "--danger-allow-any-next-hop: forwarding to ANY address a packet names. \
             This turns the node into an open relay; use it only for tests and benchmarks."
        );
        NextHopPolicy::Any
    } else if config.node.validators.is_empty() {
        return Err(format!(
            "refusing to start: {} lists no validator, so this node has no topology to check \
             next hops against and would forward to any address. Add validators \
             (`mixnode init --validator URL`, or `validators` in the config), or for tests and \
             benchmarks only pass --danger-allow-any-next-hop",
            paths.config().display()
        ));
    } else {
        // Until the first topology arrives, nothing is forwarded.
        NextHopPolicy::Only(Default::default())
    };

    let replay_path = paths.replay_filter();
    let replay = load_replay_filter(
        &replay_path,
        keys.sphinx.public_key(),
        &config.engine,
        &paths.config(),
    )?;
    let mut router_config = router_config(
        &config.engine,
        config.node.listen,
        cpus.clone(),
        &keys,
        replay.clone(),
    );
    router_config.policy = policy;
    let engine = &config.engine;

    // Signals are caught before the shards start, so an early SIGTERM still shuts down cleanly.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let router = Router::start(router_config).map_err(|e| e.to_string())?;
    tracing::info!(
        id = %config.node.id,
        listen = %router.local_addr(),
        shards = cpus.len(),
        ?cpus,
        identity = %keys.identity_public_bs58(),
        sphinx = %keys.sphinx_public_bs58(),
        "mixnode running"
    );

    let topology_status = Arc::new(TopologyStatus::default());
    let watcher = if args.danger_allow_any_next_hop || config.node.validators.is_empty() {
        None
    } else {
        Some(TopologyWatcher::start(
            config.node.validators.clone(),
            paths.genesis(),
            Duration::from_millis(engine.topology_refresh_ms),
            router.policy_setter(),
            Arc::clone(&topology_status),
        ))
    };

    let metrics = match args.metrics_listen {
        Some(addr) => {
            let status = Arc::clone(&topology_status);
            let extra: ExtraMetrics = Box::new(move |out: &mut String| status.render(out));
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

    let stopper = router.stopper();
    if let Some(signal) = signals.forever().next() {
        tracing::info!(
            signal,
            "shutting down: no new connections, letting held packets leave"
        );
    }
    stopper.stop();
    let joined = router.join();
    drop(watcher);
    drop(metrics);
    let saved = replay.save(&replay_path);
    let _ = std::fs::remove_file(&pid_file);
    joined.map_err(|e| e.to_string())?;
    saved.map_err(|e| format!("cannot persist the replay filter: {e}"))?;
    tracing::info!(path = %replay_path.display(), tags = replay.inserted(), "replay filter saved; stopped");
    Ok(())
}

/// The replay filter saved at `path` for this Sphinx key, or a fresh one when there is none or
/// it belongs to an older key or size. A file that exists but cannot be read is an error: an
/// empty filter would accept replays of packets seen before the restart.
pub fn load_replay_filter(
    path: &std::path::Path,
    sphinx_public: [u8; 32],
    engine: &EngineSection,
    config_path: &std::path::Path,
) -> Result<Arc<ReplayFilter>, String> {
    let params =
        ReplayFilterParams::for_capacity(engine.replay_capacity, engine.replay_false_positive_rate)
            .map_err(|e| format!("{}: replay filter: {e}", config_path.display()))?;
    let filter = match ReplayFilter::load(path, sphinx_public, params) {
        Ok(LoadOutcome::Restored(filter)) => {
            tracing::info!(path = %path.display(), tags = filter.inserted(), "replay filter restored");
            filter
        }
        Ok(LoadOutcome::Fresh(filter, reason)) => {
            match reason {
                FreshReason::NoFile => tracing::info!("no saved replay filter: starting empty"),
                FreshReason::KeyMismatch => {
                    tracing::info!("saved replay filter belongs to an older Sphinx key: starting empty")
                }
                FreshReason::ParamsMismatch => tracing::warn!(
                    "replay filter size changed in the config: the saved one cannot be used, starting empty"
                ),
            }
            filter
        }
        Err(error) => {
            return Err(format!(
                "{error}. Refusing to start with an empty filter, which would accept replays of \
                 packets seen before the restart; move the file away to start anyway"
            ))
        }
    };
    Ok(Arc::new(filter))
}

/// The router settings `[engine]` asks for, in mix mode (last hops dropped) and with no next
/// hop allowed yet; callers set the policy and, for a gateway, the exit role.
pub fn router_config(
    engine: &EngineSection,
    listen: SocketAddr,
    cpus: Vec<usize>,
    keys: &NodeKeys,
    replay: Arc<ReplayFilter>,
) -> RouterConfig {
    let mut config = RouterConfig::new(listen, cpus, keys.sphinx.clone(), replay);
    config.mixer = MixerConfig {
        outgoing_version: if engine.outgoing_framing_version == 7 {
            FramingVersion::V7
        } else {
            FramingVersion::V8
        },
        wheel: WheelConfig {
            capacity: engine.wheel_capacity,
            max_delay: Duration::from_millis(engine.max_delay_ms),
            drop_policy: if engine.drop_policy == "newest" {
                DropPolicy::DropNewest
            } else {
                DropPolicy::DropRandom
            },
        },
        final_hops: FinalHops::Drop,
    };
    config.shard = ShardSettings {
        peer_queue_capacity: engine.peer_queue_capacity,
        connect_timeout: Duration::from_millis(engine.connect_timeout_ms),
        batch: BatchPolicy::for_backend(
            detected_backend(),
            Duration::from_micros(engine.batch_linger_us),
        ),
        ..config.shard
    };
    config.buffer_budget_bytes = engine.buffer_budget_mib << 20;
    config.shutdown_grace = Duration::from_millis(engine.shutdown_grace_ms);
    config.busy_poll = Duration::from_micros(engine.busy_poll_us);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_refuse_nonsense() {
        assert_eq!(parse_cpu_list("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert_eq!(parse_cpu_list(" 1 ").unwrap(), vec![1]);
        for bad in ["a", "3-1", "1,1", "-2"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_counts_beyond_the_machine_are_refused() {
        let args = RunArgs {
            shards: Some(10_000),
            ..RunArgs::default()
        };
        assert!(choose_cpus(&args).is_err());
        let args = RunArgs {
            shards: Some(1),
            ..RunArgs::default()
        };
        assert_eq!(choose_cpus(&args).unwrap(), vec![0]);
    }
}
