//! The `gateway` subcommands.

pub mod bond;
pub mod details;
pub mod init;
pub mod run;
