//! Pinning the calling thread (and the threads it starts afterwards) to one CPU.

/// CPUs this process may use, read once before anything is pinned (a pinned thread sees only
/// its own CPU).
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the current thread to `cpu`; threads it spawns afterwards inherit the mask.
pub fn pin_current_thread(cpu: usize) -> Result<(), String> {
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        Err(format!("cannot pin a thread to CPU {cpu}"))
    }
}
