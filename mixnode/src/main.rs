//! `mixnode`: see the library docs and `mixnode --help`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mixnode::commands::{details, init, run};
use mixnode::config::Config;
use node::bond::Announced;
use node::cli::{BondArgs, InitArgs, NodeArgs, Output, Printable, RunArgs};
use node::config::ConfigFile;
use node::home::Role;
use node::NodeError;
use validator_core::statement::NodeRole;

#[derive(Parser, Debug)]
#[command(name = "mixnode", version, about = "A Loopix/Nym-style mixnode")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node: HOME/mixnodes/ID/ with config.toml and its keys.
    Init {
        #[command(flatten)]
        node: NodeArgs,
        /// Address the mix listener binds, e.g. 0.0.0.0:1789.
        #[arg(long)]
        listen: SocketAddr,
        /// Address other nodes reach this one at (default: --listen).
        #[arg(long)]
        announce: Option<SocketAddr>,
        #[command(flatten)]
        init: InitArgs,
    },
    /// Register the node: bond stake to it from an account (takes effect next epoch).
    Bond {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        bond: BondArgs,
    },
    /// Print the node's public keys and addresses.
    NodeDetails {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Run the node until SIGINT or SIGTERM.
    Run {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        run: RunArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    node::cli::init_tracing();
    node::cli::exit_code("mixnode", execute(cli.command))
}

fn execute(command: Command) -> Result<(), NodeError> {
    match command {
        Command::Init {
            node,
            listen,
            announce,
            init,
        } => {
            let paths = node.paths(Role::Mixnode)?;
            init::init(&paths, &node.id, listen, announce, &init)?;
            eprintln!(
                "mixnode {:?} initialised in {}",
                node.id,
                paths.dir.display()
            );
            print!("{}", details::details(&paths)?.to_text());
            Ok(())
        }
        Command::Bond { node, bond } => {
            let paths = node.paths(Role::Mixnode)?;
            let config = Config::load(&paths.config())?;
            node::config::trust_ca_files(&config.tls, &paths.config())?;
            let announced = Announced {
                genesis_hash: config.node.genesis_hash,
                role: NodeRole::Mixnode,
                address: config.node.announce,
                clients_address: None,
            };
            let bonded = node::bond::bond(
                &paths,
                &config.node.validators,
                announced,
                &bond.account_key,
                bond.amount,
            )?;
            node::cli::print_json_line(&bonded)
        }
        Command::NodeDetails { node, output } => {
            details::details(&node.paths(Role::Mixnode)?)?.print(output)
        }
        Command::Run { node, run } => run::run(&node.paths(Role::Mixnode)?, &run),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
