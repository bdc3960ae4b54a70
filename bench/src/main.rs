//! The `bench` command: measurements that compare this project with its reference in one run.
//!
//! - `bench unwrap [--json]`: Sphinx unwrapping on one core against `sphinx-packet`.
//!
//! The `router` and `localnet` commands arrive with the runtime and local-network work.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bench", about = "Benchmarks for the mixnet engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sphinx unwrap: sphinx-packet process() vs in-place vs batched, and X25519 alone.
    Unwrap {
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Interleaved measurement rounds per variant.
        #[arg(long, default_value_t = 9)]
        rounds: usize,
        /// Length of one round, in milliseconds.
        #[arg(long, default_value_t = 300)]
        slice_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Unwrap {
            json,
            rounds,
            slice_ms,
        } => {
            let options = bench::unwrap::Options {
                rounds: rounds.max(1),
                slice: Duration::from_millis(slice_ms.max(1)),
            };
            match bench::unwrap::run(&options) {
                Ok(report) if json => match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("bench unwrap: {e}");
                        return ExitCode::FAILURE;
                    }
                },
                Ok(report) => bench::unwrap::print(&report, &options),
                Err(e) => {
                    eprintln!("bench unwrap: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
