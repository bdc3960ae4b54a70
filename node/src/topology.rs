//! The verified topology a node acts on, kept current in the background.
//!
//! * [`TopologyWindow`] (pure): the topologies of the previous, current and (once signed) next
//!   epoch, so packets built just before an epoch turns still get through. The mixnode's
//!   next-hop policy is every node of the window ([`TopologyWindow::addresses`]); the
//!   gateway's entry policy is its layer-1 mixnodes ([`TopologyWindow::layer1`]).
//! * [`ValidatorTopology`]: fetches the window's topologies from the validators.
//! * [`TopologyWatcher`]: a thread that refreshes the window every interval and hands it to
//!   the role's callback. A fetch that fails keeps the last good window (a validator outage
//!   must not partition the mix); before the first one succeeds the callback is not called,
//!   so a node that starts with an empty policy forwards nothing.
//!
//! What is trusted:
//! * **The genesis.** `genesis.toml` in the node's directory if the operator put one there;
//!   otherwise it is fetched from the configured validators, which must all serve the same
//!   chain, and pinned to that file, so a validator that later changes its story is caught.
//! * **The topology.** Asked of every genesis validator; accepted only when `threshold` of
//!   them signed the same bytes ([`validator_client::TopologyFetcher`]).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use validator_client::TopologyFetcher;
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::topology::{EpochId, Layer, Topology};

use crate::error::NodeError;

/// The topologies of the previous, current and next epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopologyWindow {
    kept: BTreeMap<EpochId, Topology>,
}

impl TopologyWindow {
    /// Takes `current` (and `next`, once signed) and forgets epochs before the previous one.
    pub fn update(&mut self, current: Topology, next: Option<Topology>) {
        let epoch = current.epoch_id;
        if let Some(next) = next {
            self.kept.insert(next.epoch_id, next);
        }
        self.kept.insert(epoch, current);
        self.kept.retain(|e, _| e.0.saturating_add(1) >= epoch.0);
    }

    /// The epochs kept, oldest first.
    pub fn epochs(&self) -> impl Iterator<Item = EpochId> + '_ {
        self.kept.keys().copied()
    }

    /// Every node of every kept epoch: where a mixnode may forward.
    pub fn addresses(&self) -> HashSet<SocketAddr> {
        self.kept
            .values()
            .flat_map(|t| {
                t.mixnodes
                    .iter()
                    .map(|m| m.address)
                    .chain(t.gateways.iter().map(|g| g.address))
            })
            .collect()
    }

    /// Every node of every kept epoch that announced a Noise key, with its packet address,
    /// oldest epoch first: where an address changed keys (a node bonded again), the newest
    /// epoch's key comes last, and is the one links to that address use
    /// ([`router_core::noise::peers::LinkPeers::from_nodes`]); the older key may still open
    /// links here.
    pub fn noise_keys(&self) -> Vec<(SocketAddr, [u8; 32])> {
        self.kept
            .values()
            .flat_map(|t| {
                let mixnodes = t.mixnodes.iter().map(|m| (m.address, m.noise_key));
                mixnodes.chain(t.gateways.iter().map(|g| (g.address, g.noise_key)))
            })
            .filter_map(|(address, key)| Some((address, *key?.as_bytes())))
            .collect()
    }

    /// The layer-1 mixnodes of every kept epoch: where a gateway sends client packets.
    pub fn layer1(&self) -> HashSet<SocketAddr> {
        let Some(first) = Layer::new(1) else {
            return HashSet::new();
        };
        self.kept
            .values()
            .flat_map(|t| t.layer(first).map(|m| m.address))
            .collect()
    }
}

/// The chain's genesis: the pinned file if present, else the one every answering configured
/// validator serves, then pinned; with `expected` (the config's `genesis_hash`), only that
/// chain ([`validator_client::load_or_fetch_genesis`]).
pub async fn load_or_fetch_genesis(
    validators: &[String],
    pin: &Path,
    expected: Option<GenesisHash>,
) -> Result<Genesis, NodeError> {
    let fetched = !pin.exists();
    let genesis = validator_client::load_or_fetch_genesis(validators, pin, expected).await?;
    if fetched {
        tracing::info!(chain = %genesis.chain_id, path = %pin.display(), "genesis pinned");
    }
    Ok(genesis)
}

/// Where the window's topologies come from: the configured validators, through the pinned
/// genesis.
#[derive(Debug)]
pub struct ValidatorTopology {
    validators: Vec<String>,
    genesis_pin: PathBuf,
    expected_genesis: Option<GenesisHash>,
    fetcher: Option<TopologyFetcher>,
}

impl ValidatorTopology {
    /// Asks `validators`, with the genesis pinned at `genesis_pin` (and, if given, only the
    /// chain whose genesis hash is `expected_genesis`).
    pub fn new(
        validators: Vec<String>,
        genesis_pin: PathBuf,
        expected_genesis: Option<GenesisHash>,
    ) -> Self {
        ValidatorTopology {
            validators,
            genesis_pin,
            expected_genesis,
            fetcher: None,
        }
    }

    /// Fetches the current topology (and the next, if signed yet) into `window`; returns the
    /// current epoch.
    pub async fn refresh(&mut self, window: &mut TopologyWindow) -> Result<EpochId, NodeError> {
        let fetcher = match &mut self.fetcher {
            Some(fetcher) => fetcher,
            none => {
                let genesis = load_or_fetch_genesis(
                    &self.validators,
                    &self.genesis_pin,
                    self.expected_genesis,
                )
                .await?;
                none.insert(TopologyFetcher::new(genesis)?)
            }
        };
        let current = fetcher.fetch(None).await?;
        let epoch = current.epoch_id;
        let next = fetcher.fetch(Some(epoch.next())).await.ok();
        window.update(current, next);
        Ok(epoch)
    }
}

/// What the watcher last installed, for the metrics.
#[derive(Debug)]
pub struct TopologyStatus {
    epoch: AtomicU64,
    failures: AtomicU64,
}

impl Default for TopologyStatus {
    fn default() -> Self {
        Self {
            epoch: AtomicU64::new(u64::MAX),
            failures: AtomicU64::new(0),
        }
    }
}

impl TopologyStatus {
    /// Prometheus text: the current epoch (-1 before the first topology) and failed fetches.
    pub fn render(&self, out: &mut String) {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let epoch = if epoch == u64::MAX {
            "-1".to_owned()
        } else {
            epoch.to_string()
        };
        let _ = writeln!(
            out,
            "# HELP mixnet_topology_epoch Epoch of the current verified topology (-1: none yet).\n\
             # TYPE mixnet_topology_epoch gauge\nmixnet_topology_epoch {epoch}\n\
             # HELP mixnet_topology_fetch_failures_total Topology fetches that failed.\n\
             # TYPE mixnet_topology_fetch_failures_total counter\n\
             mixnet_topology_fetch_failures_total {}",
            self.failures.load(Ordering::Relaxed),
        );
    }
}

/// The refresh thread; stops when dropped.
#[derive(Debug)]
pub struct TopologyWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TopologyWatcher {
    /// Refreshes from `source` every `every` on a thread of its own, calling `on_update` with
    /// the window after each successful fetch; `status` is kept up to date for the metrics.
    pub fn start(
        mut source: ValidatorTopology,
        every: Duration,
        status: Arc<TopologyStatus>,
        mut on_update: impl FnMut(&TopologyWindow) + Send + 'static,
    ) -> Result<Self, NodeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| NodeError::System {
                what: "cannot start the topology client runtime",
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("topology".into())
            .spawn(move || {
                let mut window = TopologyWindow::default();
                while !thread_stop.load(Ordering::Acquire) {
                    // A fetch waiting on a slow validator is abandoned when the node stops, so
                    // a shutdown never waits for it (the window only changes once both
                    // fetches are in).
                    let refreshed = runtime.block_on(async {
                        tokio::select! {
                            result = source.refresh(&mut window) => Some(result),
                            () = stopped(&thread_stop) => None,
                        }
                    });
                    let Some(refreshed) = refreshed else { break };
                    match refreshed {
                        Ok(epoch) => {
                            status.epoch.store(epoch.0, Ordering::Relaxed);
                            on_update(&window);
                        }
                        Err(error) => {
                            status.failures.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(%error, kept_previous = window != TopologyWindow::default(), "cannot fetch the topology")
                        }
                    }
                    sleep_unless_stopped(every, &thread_stop);
                }
            })
            .map_err(|source| NodeError::System {
                what: "cannot start the topology thread",
                source,
            })?;
        Ok(TopologyWatcher {
            stop,
            thread: Some(thread),
        })
    }
}

/// Resolves once `stop` is set (checked every 50 ms).
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sleeps `every`, in steps short enough that a stop is noticed within 50 ms.
fn sleep_unless_stopped(every: Duration, stop: &AtomicBool) {
    let mut slept = Duration::ZERO;
    while slept < every && !stop.load(Ordering::Acquire) {
        let step = Duration::from_millis(50).min(every - slept);
        std::thread::sleep(step);
        slept += step;
    }
}

impl Drop for TopologyWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator_core::statement::NodeRole;
    use validator_core::test_util::{identity, node, node_key, sphinx_key};
    use validator_core::topology::{TopologyGateway, TopologyMixnode};

    fn topology(epoch: u64, first: u32) -> Topology {
        let mixnodes = (0..3)
            .map(|i| TopologyMixnode {
                identity_key: identity(&node_key(first + i)),
                sphinx_key: sphinx_key(first + i),
                next_sphinx_key: None,
                address: node(first + i, NodeRole::Mixnode).address,
                layer: Layer::ALL[i as usize],
                noise_key: None,
            })
            .collect();
        let gateways = vec![TopologyGateway {
            identity_key: identity(&node_key(first + 3)),
            sphinx_key: sphinx_key(first + 3),
            next_sphinx_key: None,
            address: node(first + 3, NodeRole::Gateway).address,
            clients_address: None,
            noise_key: None,
        }];
        Topology {
            epoch_id: EpochId(epoch),
            height: 0,
            valid_from_ms: epoch * 1000,
            valid_until_ms: (epoch + 1) * 1000,
            rotation: None,
            mixnodes,
            gateways,
        }
    }

    #[test]
    fn the_window_keeps_the_previous_current_and_next_epoch() {
        let mut window = TopologyWindow::default();
        window.update(topology(5, 0), None);
        window.update(topology(6, 10), Some(topology(7, 20)));
        assert_eq!(
            window.epochs().collect::<Vec<_>>(),
            vec![EpochId(5), EpochId(6), EpochId(7)]
        );
        window.update(topology(7, 20), None);
        assert_eq!(
            window.epochs().collect::<Vec<_>>(),
            vec![EpochId(6), EpochId(7)],
            "epoch 5 is older than the previous one"
        );
        let addresses = window.addresses();
        assert_eq!(addresses.len(), 8, "two epochs of 3 mixnodes and a gateway");
        assert!(addresses.contains(&topology(6, 10).gateways[0].address));
        assert!(!addresses.contains(&topology(5, 0).mixnodes[0].address));
    }

    #[test]
    fn an_address_that_changed_noise_keys_is_reached_with_the_newest_epochs() {
        use router_core::noise::peers::{NoiseMode, OutboundLink};
        // Either order of the key bytes: the epoch decides, not the key's value.
        for (old, new) in [([1u8; 32], [2u8; 32]), ([2; 32], [1; 32])] {
            let with_key = |epoch, key: [u8; 32]| {
                let mut t = topology(epoch, 0);
                t.mixnodes[0].noise_key =
                    Some(validator_core::primitives::NoiseKey::from_bytes(key).unwrap());
                t
            };
            let mut window = TopologyWindow::default();
            window.update(with_key(5, old), Some(with_key(6, new)));
            let addr = topology(5, 0).mixnodes[0].address;
            let peers = router_core::noise::peers::LinkPeers::from_nodes(window.noise_keys());
            assert_eq!(
                peers.outbound(NoiseMode::Required, addr),
                OutboundLink::Noise(new)
            );
            assert!(peers.admits(&old) && peers.admits(&new));
        }
    }

    #[test]
    fn a_gateway_enters_only_at_layer_one() {
        let mut window = TopologyWindow::default();
        window.update(topology(1, 0), Some(topology(2, 10)));
        let expected: HashSet<SocketAddr> = [topology(1, 0), topology(2, 10)]
            .iter()
            .map(|t| t.mixnodes[0].address)
            .collect();
        assert_eq!(window.layer1(), expected);
    }

    #[test]
    fn a_watcher_stops_at_once_while_a_validator_does_not_answer() {
        // A "validator" that accepts connections and never answers: a fetch would wait for
        // the client's request timeout (10 s).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let (accepted_tx, accepted) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in silent.incoming().take(4) {
                held.push(stream);
                let _ = accepted_tx.send(());
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let watcher = TopologyWatcher::start(
            ValidatorTopology::new(vec![url], dir.path().join("genesis.toml"), None),
            Duration::from_secs(60),
            Arc::new(TopologyStatus::default()),
            |_| panic!("no topology can arrive"),
        )
        .unwrap();
        accepted
            .recv_timeout(Duration::from_secs(10))
            .expect("the watcher asks the validator");
        let started = std::time::Instant::now();
        drop(watcher);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stopping waited {:?} for the unanswered fetch",
            started.elapsed()
        );
    }
}
