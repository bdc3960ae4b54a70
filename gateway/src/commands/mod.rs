//! The gateway's commands (`bond` is the node crate's, with the gateway's announced
//! addresses).

pub mod details;
pub mod init;
pub mod run;
