//! # client-wasm
//!
//! The mixnet client in the browser (issue #24; DESIGN.md §5): the same sans-IO client core
//! as the native client (`client::core`: packets, Poisson real and cover streams, SURB-ACKs
//! and retransmission, fragmentation, anonymous replies), with the browser in place of the
//! operating system. It runs in a dedicated Web Worker (`js/worker.js`), so a page's
//! background-tab throttling of timers does not stop or bunch the Poisson streams; the page
//! talks to it through the ES module `js/mixnet.js` (`MixnetClient`, typed in
//! `js/mixnet.d.ts`).
//!
//! # Layout
//! Pure (compiled and unit-tested on every target):
//! * [`options`]: `MixnetClient.start`'s options, read and checked.
//! * [`stored`]: the client's identity as IndexedDB keeps it.
//! * [`views`]: counters and sender tags as the page sees them.
//! * [`packet_rate`]: packets built per second, the same code natively and in a browser.
//!
//! Browser IO (`wasm32` only):
//! * `browser`: clocks, timers and tasks on the worker's event loop.
//! * `storage`: IndexedDB.
//! * `session`: one authenticated gateway session over the browser's WebSocket.
//! * `driver`: the running client: the sending loop, the gateway link with reconnects, the
//!   topology refresh.
//! * `start`: genesis, topology, registration or authentication, bandwidth, then the driver.
//! * `api`: the `WasmClient` bindings the worker calls.
//!
//! The validators' API is `validator-client` on the browser's `fetch`; the Coconut credential
//! (deposit, blind signatures from a threshold of validators, aggregation, presentation) is
//! computed here, in WebAssembly.
//!
//! # Build
//! `client-wasm/build` builds the package into `client-wasm/pkg/` (the `web` profile,
//! `wasm-bindgen --target web`), next to `js/` and the demo page `web/`; `bench localnet
//! --web` serves them.

pub mod options;
pub mod packet_rate;
pub mod stored;
pub mod views;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod session;
#[cfg(target_arch = "wasm32")]
mod start;
#[cfg(target_arch = "wasm32")]
mod storage;

#[cfg(target_arch = "wasm32")]
pub use api::WasmClient;
