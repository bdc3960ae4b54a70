//! The `bench` command. Its `unwrap`, `router` and `localnet` commands arrive with the
//! batched-crypto, runtime and local-network work; today the micro benchmarks run through
//! criterion (`cargo bench -p bench`).

fn main() {
    let command = std::env::args().nth(1);
    eprintln!(
        "bench: no command {} yet. Micro benchmarks: cargo bench -p bench --bench sphinx_unwrap",
        command.as_deref().unwrap_or("given")
    );
    std::process::exit(2);
}
