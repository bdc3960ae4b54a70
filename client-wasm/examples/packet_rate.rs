//! Packets the client core builds per second natively, to set beside the browser's figure
//! (`benchPacketBuild` in the package; BENCHMARKS.md has both and how they were taken).
//! `cargo run --release -p client-wasm --example packet_rate [COUNT]`.

use std::time::Instant;

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    // Warm up, then measure.
    client_wasm::packet_rate::build_packets(count / 10 + 1, &mut rand_core::OsRng);
    let start = Instant::now();
    let built = client_wasm::packet_rate::build_packets(count, &mut rand_core::OsRng);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "native: {built} packets in {:.1} ms: {:.0} packets/s",
        secs * 1000.0,
        f64::from(built) / secs
    );
}
