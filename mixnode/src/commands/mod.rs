//! The subcommands, each in its own module.

pub mod bond;
pub mod details;
pub mod init;
pub mod run;
