//! The `network-requester` command: a service provider on the mixnet that opens the TCP
//! connections SOCKS5 clients ask for, within its allow list (see
//! `client::native::requester` and README).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::native::cli::{main_with, print_initialised, InitArgs, TimingArgs};
use client::native::error::NativeError;
use client::native::files::ClientPaths;
use client::native::requester::{run, RequesterOptions, ALLOW_LIST_TEMPLATE};

#[derive(Parser)]
#[command(
    name = "network-requester",
    about = "Opens TCP connections for SOCKS5 clients of the mixnet, within an allow list"
)]
struct Cli {
    /// Home directory (default: $MIXNET_HOME, else ~/.mixnet).
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the requester's mixnet client and an allow list that allows nothing.
    Init(InitArgs),
    /// Run the requester.
    Run {
        /// The requester's name.
        #[arg(long)]
        id: String,
        /// The allow-list file [default: allowed.list in the requester's directory].
        #[arg(long)]
        allow_list: Option<PathBuf>,
        /// Open connections at most, over all clients.
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Open connections at most per client.
        #[arg(long, default_value_t = 64)]
        max_connections_per_sender: usize,
        #[command(flatten)]
        timing: TimingArgs,
    },
}

fn allow_list_file(paths: &ClientPaths) -> PathBuf {
    paths.dir().join("allowed.list")
}

async fn main_async(cli: Cli) -> Result<(), NativeError> {
    let home = validator_core::files::resolve_home(cli.home.as_deref())?;
    match cli.command {
        Command::Init(init) => {
            let (paths, done) = init.run(&home).await?;
            let file = allow_list_file(&paths);
            if !file.exists() {
                std::fs::write(&file, ALLOW_LIST_TEMPLATE)
                    .map_err(NativeError::io("writing", &file))?;
            }
            print_initialised(&done)
        }
        Command::Run {
            id,
            allow_list,
            max_connections,
            max_connections_per_sender,
            timing,
        } => {
            let paths = ClientPaths::new(&home, &id)?;
            let file = allow_list.unwrap_or_else(|| allow_list_file(&paths));
            let mut options = RequesterOptions::new(file, timing.driver_options()?);
            options.max_connections = max_connections.max(1);
            options.max_per_sender = max_connections_per_sender.max(1);
            run(&paths, options).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    main_with(main_async(cli))
}
