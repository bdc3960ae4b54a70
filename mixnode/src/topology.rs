//! Keeping the next-hop policy in step with the validators' topology.
//!
//! A thread fetches the topology from the configured validators every refresh interval and
//! installs the set of node addresses as the router's next-hop policy. A fetch that fails keeps
//! the last good topology (a validator outage must not partition the mix); before the first one
//! succeeds nothing is forwarded.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use router_core::pipeline::NextHopPolicy;
use router_core::runtime::PolicySetter;

/// Fetches the addresses of the current topology's nodes.
pub type FetchTopology = Box<dyn FnMut() -> Result<HashSet<SocketAddr>, String> + Send>;

/// The refresh thread; stops when dropped.
#[derive(Debug)]
pub struct TopologyWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TopologyWatcher {
    /// Starts refreshing from `validators` every `every`.
    pub fn start(validators: Vec<String>, every: Duration, setter: PolicySetter) -> Self {
        Self::start_with(fetch_from(validators), every, setter)
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

fn fetch_from(validators: Vec<String>) -> FetchTopology {
    Box::new(move || {
        Err(format!(
            "topology client for {} validator(s) not connected yet",
            validators.len()
        ))
    })
}
