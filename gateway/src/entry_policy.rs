//! Which first hops the entry role sends client packets (and SURB-ACKs) to: the layer-1
//! mixnodes of the verified topology window ([`node::topology::TopologyWindow::layer1`]),
//! refreshed in the background by the node's topology watcher; a failed fetch keeps the last
//! good set. Any address only with the dangerous flag of tests and benchmarks.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::RwLock;

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

    /// Allows exactly `hops` from now on.
    pub fn set(&self, hops: HashSet<SocketAddr>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(hops);
    }
}
