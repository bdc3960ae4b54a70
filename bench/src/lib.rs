//! # bench: the measurement harness
//!
//! Holds what the benchmarks share, starting with [`fixtures`]: Sphinx packets built by
//! `sphinx-packet` (the reference implementation) for routes of nodes whose keys the benchmark
//! knows, so every benchmark measures ours and the reference on identical input.
//!
//! Benchmarks:
//! - `cargo run --profile production -p bench -- unwrap [--json]` ([`unwrap`]): on one core, in one run,
//!   `sphinx-packet`'s `process()`, our single-packet unwrap and batched unwrap (batches of 1,
//!   8, 16, 32), X25519 alone, and a cost breakdown; variants interleaved ([`measure`]).
//! - `cargo bench -p bench --bench sphinx_unwrap`: in-place unwrap vs `sphinx-packet`'s
//!   `process()`, per packet size, in one criterion run.
//! - `cargo bench -p bench --bench x25519`: X25519 per multiplication, every backend.
//!
//! - `cargo run --profile production -p bench -- router [--json]` ([`router`]): one mixnode shard against
//!   the Nym-style [`baseline`] router on the same core with the same load: maximum forwarded
//!   rate, latency at 50% and 90% of it, CPU use, and memory with 100,000 held packets.
//!
//! - `cargo run --release -p bench -- chain [--json]` ([`chain`]): four validators on the BFT
//!   chain as processes on loopback: committed statements and spends per second, submission
//!   to decision, catch-up after a restart, and the cost of a refused statement with 20,000
//!   pending.
//!
//! - `cargo run --release -p bench -- localnet [--report-json PATH]`: a whole local mixnet as
//!   processes on loopback (validators, three layers of mixnodes, gateways, clients),
//!   messages between clients of different gateways, and a report of delivery, latency and
//!   packet rates. The network, its traffic and its report are the `testnet` crate, which
//!   the end-to-end tests share; this crate only gives it its command line.

pub mod affinity;
pub mod baseline;
pub mod chain;
pub mod fixtures;
pub mod measure;
pub mod router;
pub mod unwrap;
