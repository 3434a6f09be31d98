//! The command line's arguments and commands (the binary's own modules).

pub mod args;
pub mod commands;
pub mod signals;
pub mod sweep;
