//! Keeping the next-hop policy in step with the validators' topology.
//!
//! A thread fetches the topology every refresh interval and installs the set of node
//! addresses as the router's next-hop policy. A fetch that fails keeps the last good topology
//! (a validator outage must not partition the mix); before the first one succeeds nothing is
//! forwarded.
//!
//! What is trusted:
//! * **The genesis.** `HOME/mixnodes/ID/genesis.toml` if the operator put one there;
//!   otherwise it is fetched from the configured validators, which must all serve the same
//!   chain, and pinned to that file, so a validator that later changes its story is caught.
//! * **The topology.** Asked of every genesis validator; accepted only when `threshold` of
//!   them signed the same bytes ([`validator::client::TopologyFetcher`]).
//!
//! The policy is the union of the addresses of the previous, current and (once signed) next
//! epoch's topologies, so packets built just before an epoch turns still get through.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use router_core::pipeline::NextHopPolicy;
use router_core::runtime::PolicySetter;
use validator::client::TopologyFetcher;
use validator::genesis::Genesis;
use validator::topology::{EpochId, Topology};

/// Fetches the addresses of the current topology's nodes.
pub type FetchTopology = Box<dyn FnMut() -> Result<HashSet<SocketAddr>, String> + Send>;

/// The refresh thread; stops when dropped.
#[derive(Debug)]
pub struct TopologyWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TopologyWatcher {
    /// Starts refreshing from the validators every `every` (see the module docs); `status`
    /// is kept up to date for the metrics.
    pub fn start(
        validators: Vec<String>,
        genesis_pin: PathBuf,
        every: Duration,
        setter: PolicySetter,
        status: Arc<TopologyStatus>,
    ) -> Self {
        Self::start_with(fetch_from(validators, genesis_pin, status), every, setter)
    }

    /// Starts refreshing with a custom fetch.
    pub fn start_with(mut fetch: FetchTopology, every: Duration, setter: PolicySetter) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("topology".into())
            .spawn(move || {
                let mut last: Option<HashSet<SocketAddr>> = None;
                while !thread_stop.load(Ordering::Acquire) {
                    match fetch() {
                        Ok(nodes) => {
                            if last.as_ref() != Some(&nodes) {
                                tracing::info!(nodes = nodes.len(), "topology updated");
                                setter.set(NextHopPolicy::Only(nodes.clone()));
                                last = Some(nodes);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, kept_previous = last.is_some(), "cannot fetch the topology")
                        }
                    }
                    let mut slept = Duration::ZERO;
                    while slept < every && !thread_stop.load(Ordering::Acquire) {
                        let step = Duration::from_millis(50).min(every - slept);
                        std::thread::sleep(step);
                        slept += step;
                    }
                }
            })
            .ok();
        TopologyWatcher { stop, thread }
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
    /// The addresses the shards enforce are `mixnet_next_hops_allowed`.
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

/// The chain's genesis: the pinned file if present, else the one every answering configured
/// validator serves, then pinned ([`validator::client::load_or_fetch_genesis`]).
pub async fn load_or_fetch_genesis(
    validators: &[String],
    pin: &std::path::Path,
) -> Result<Genesis, String> {
    let fetched = !pin.exists();
    let genesis = validator::client::load_or_fetch_genesis(validators, pin).await?;
    if fetched {
        tracing::info!(chain = %genesis.chain_id, path = %pin.display(), "genesis pinned");
    }
    Ok(genesis)
}

/// Topologies kept for the policy, by epoch.
fn next_hops(kept: &BTreeMap<EpochId, Topology>) -> HashSet<SocketAddr> {
    kept.values()
        .flat_map(|t| {
            t.mixnodes
                .iter()
                .map(|m| m.address)
                .chain(t.gateways.iter().map(|g| g.address))
        })
        .collect()
}

fn fetch_from(
    validators: Vec<String>,
    genesis_pin: PathBuf,
    status: Arc<TopologyStatus>,
) -> FetchTopology {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let mut fetcher: Option<TopologyFetcher> = None;
    let mut kept: BTreeMap<EpochId, Topology> = BTreeMap::new();
    Box::new(move || {
        let runtime = runtime
            .as_ref()
            .map_err(|e| format!("cannot start the topology client runtime: {e}"))?;
        let result = runtime.block_on(async {
            if fetcher.is_none() {
                let g = load_or_fetch_genesis(&validators, &genesis_pin).await?;
                fetcher = Some(TopologyFetcher::new(g).map_err(|e| e.to_string())?);
            }
            let Some(f) = fetcher.as_ref() else {
                return Err("no topology fetcher".to_owned());
            };
            let current = f.fetch(None).await.map_err(|e| e.to_string())?;
            let epoch = current.epoch_id;
            if let Ok(next) = f.fetch(Some(epoch.next())).await {
                kept.insert(next.epoch_id, next);
            }
            kept.insert(epoch, current);
            kept.retain(|e, _| e.0.saturating_add(1) >= epoch.0);
            Ok(epoch)
        });
        match result {
            Ok(epoch) => {
                let hops = next_hops(&kept);
                status.epoch.store(epoch.0, Ordering::Relaxed);
                Ok(hops)
            }
            Err(e) => {
                status.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    })
}
