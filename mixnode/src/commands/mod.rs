//! The mixnode's commands.

pub mod details;
pub mod init;
pub mod run;
