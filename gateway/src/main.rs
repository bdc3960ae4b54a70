//! `gateway`: see the library docs and `gateway --help`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gateway::commands::{details, init, run};
use gateway::config::Config;
use gateway::error::GatewayError;
use node::bond::Announced;
use node::cli::{BondArgs, InitArgs, NodeArgs, Output, Printable};
use node::config::ConfigFile;
use node::home::Role;
use validator_core::statement::NodeRole;

#[derive(Parser, Debug)]
#[command(name = "gateway", version, about = "A Loopix/Nym-style gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a gateway: HOME/gateways/ID/ with config.toml and its keys.
    Init {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        addresses: init::Addresses,
        #[command(flatten)]
        init: InitArgs,
    },
    /// Register the gateway: bond stake to it from an account (takes effect next epoch).
    Bond {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        bond: BondArgs,
    },
    /// Print the gateway's public keys and addresses.
    NodeDetails {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Run the gateway until SIGINT or SIGTERM.
    Run {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        run: run::GatewayRunArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    node::cli::init_tracing();
    node::cli::exit_code("gateway", execute(cli.command))
}

fn execute(command: Command) -> Result<(), GatewayError> {
    match command {
        Command::Init {
            node,
            addresses,
            init,
        } => {
            let paths = node.paths(Role::Gateway)?;
            init::init(&paths, &node.id, &addresses, &init)?;
            eprintln!(
                "gateway {:?} initialised in {}",
                node.id,
                paths.dir.display()
            );
            print!("{}", details::details(&paths)?.to_text());
            Ok(())
        }
        Command::Bond { node, bond } => {
            let paths = node.paths(Role::Gateway)?;
            let config = Config::load(&paths.config())?;
            node::config::trust_ca_files(&config.tls, &paths.config())?;
            let announced = Announced {
                genesis_hash: config.gateway.genesis_hash,
                role: NodeRole::Gateway,
                address: config.gateway.mix_announce,
                clients_address: Some(config.gateway.clients_announce.clone()),
            };
            let bonded = node::bond::bond(
                &paths,
                &config.gateway.validators,
                announced,
                &bond.account_key,
                bond.amount,
            )?;
            Ok(node::cli::print_json_line(&bonded)?)
        }
        Command::NodeDetails { node, output } => {
            Ok(details::details(&node.paths(Role::Gateway)?)?.print(output)?)
        }
        Command::Run { node, run } => run::run(&node.paths(Role::Gateway)?, &run),
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
