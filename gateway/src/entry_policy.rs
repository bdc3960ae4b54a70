//! Which first hops the entry role sends client packets (and SURB-ACKs) to: the layer-1
//! mixnodes of the validators' topology (previous, current and next epoch, as the mixnode
//! keeps them), refreshed in the background; a failed fetch keeps the last good set. Any
//! address only with the dangerous flag of tests and benchmarks.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use validator::client::TopologyFetcher;
use validator::topology::{EpochId, Layer, Topology};

/// The allowed first hops; `None` allows any.
#[derive(Debug)]
pub struct EntryPolicy(RwLock<Option<HashSet<SocketAddr>>>);

impl EntryPolicy {
    /// Any first hop (tests and benchmarks only).
    pub fn any() -> Self {
        EntryPolicy(RwLock::new(None))
    }

    /// No first hop until a topology arrives.
    pub fn empty() -> Self {
        EntryPolicy(RwLock::new(Some(HashSet::new())))
    }

    /// Whether packets may go to `first_hop`.
    pub fn allows(&self, first_hop: &SocketAddr) -> bool {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().is_none_or(|set| set.contains(first_hop))
    }

    fn set(&self, hops: HashSet<SocketAddr>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(hops);
    }
}

/// Layer-1 addresses of the kept topologies.
pub fn layer1(kept: &BTreeMap<EpochId, Topology>) -> HashSet<SocketAddr> {
    let Some(first) = Layer::new(1) else {
        return HashSet::new();
    };
    kept.values()
        .flat_map(|t| t.layer(first).map(|m| m.address))
        .collect()
}

/// Refreshes `policy` from the validators every `every`, until the runtime stops.
pub async fn watch(
    validators: Vec<String>,
    genesis_pin: PathBuf,
    every: Duration,
    policy: Arc<EntryPolicy>,
) {
    let mut fetcher: Option<TopologyFetcher> = None;
    let mut kept: BTreeMap<EpochId, Topology> = BTreeMap::new();
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        if fetcher.is_none() {
            match mixnode::topology::load_or_fetch_genesis(&validators, &genesis_pin).await {
                Ok(genesis) => match TopologyFetcher::new(genesis) {
                    Ok(f) => fetcher = Some(f),
                    Err(error) => tracing::warn!(%error, "cannot build the topology client"),
                },
                Err(error) => tracing::warn!(%error, "no genesis yet"),
            }
        }
        let Some(f) = fetcher.as_ref() else { continue };
        match f.fetch(None).await {
            Ok(current) => {
                let epoch = current.epoch_id;
                if let Ok(next) = f.fetch(Some(epoch.next())).await {
                    kept.insert(next.epoch_id, next);
                }
                kept.insert(epoch, current);
                kept.retain(|e, _| e.0.saturating_add(1) >= epoch.0);
                let hops = layer1(&kept);
                tracing::debug!(
                    epoch = epoch.0,
                    first_hops = hops.len(),
                    "entry policy updated"
                );
                policy.set(hops);
            }
            Err(error) => tracing::warn!(%error, "cannot fetch the topology; keeping the last one"),
        }
    }
}
