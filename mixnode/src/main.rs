//! # mixnode
//!
//! The mixnode binary will hold: `mixnode init` (TOML config, ed25519 identity and x25519 Sphinx
//! keys), `mixnode node-details`, and `mixnode run`, which starts the router-core runtime in mix
//! mode and registers with the validators. It forwards only to nodes of the current topology.
//!
//! Today it only reports what it is: the engine it will run lives in `router-core`, and the
//! binary arrives with the runtime work (DESIGN.md §5).

fn main() {
    eprintln!(
        "mixnode: the binary arrives with the router-core runtime; see README.md for what runs today"
    );
    std::process::exit(2);
}
