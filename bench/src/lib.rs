//! # bench: the measurement harness
//!
//! Holds what the benchmarks share, starting with [`fixtures`]: Sphinx packets built by
//! `sphinx-packet` (the reference implementation) for routes of nodes whose keys the benchmark
//! knows, so every benchmark measures ours and the reference on identical input.
//!
//! Benchmarks:
//! - `cargo bench -p bench --bench sphinx_unwrap`: in-place unwrap vs `sphinx-packet`'s
//!   `process()`, per packet size, in one criterion run.
//!
//! To come with later work: the `bench` binary's `unwrap`, `router` and `localnet` commands
//! (load generator, local network orchestrator, Nym-style baseline router, reports).

pub mod fixtures;
