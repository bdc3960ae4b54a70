//! # validator
//!
//! Will hold the directory authority: the genesis ledger and stake registry, epochs and
//! stake-weighted active-set selection, the signed topology API, and Coconut threshold
//! credentials on bls12_381 (DESIGN.md §5). Types that nodes and clients need (topology,
//! statements, credentials, an API client) will be usable without the server parts.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its fixed shape.
