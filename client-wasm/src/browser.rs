//! What the browser gives the client in place of an operating system: a monotonic clock
//! (`performance.now()`), the wall clock (`Date.now()`), timers (`setTimeout`), and tasks
//! on the worker's event loop. Works in a page and in a worker alike.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use wasm_bindgen::JsCast;

/// Milliseconds on the monotonic clock of this worker (or page).
fn performance_now() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// A monotonic clock's origin: the client core's times are durations since it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin_ms: f64,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        Clock {
            origin_ms: performance_now(),
        }
    }

    /// Time since the origin.
    pub fn now(&self) -> Duration {
        Duration::from_secs_f64(((performance_now() - self.origin_ms) / 1000.0).max(0.0))
    }
}

/// The wall clock, Unix ms.
pub fn unix_ms() -> u64 {
    // Date.now() is a whole, non-negative number of ms.
    js_sys::Date::now().max(0.0) as u64
}

/// Resolves after `d`.
pub async fn sleep(d: Duration) {
    let ms = u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// `f`'s output, or `None` if `d` passed first.
pub async fn timeout<T>(d: Duration, f: impl Future<Output = T>) -> Option<T> {
    futures::select! {
        out = f.fuse() => Some(out),
        () = sleep(d).fuse() => None,
    }
}

/// Runs `f` on the event loop; it stops when the returned handle is dropped or aborted.
pub fn spawn(f: impl Future<Output = ()> + 'static) -> futures::future::AbortHandle {
    let (task, handle) = futures::future::abortable(f);
    wasm_bindgen_futures::spawn_local(task.map(|_| ()));
    handle
}
