//! One thin file per verb: glue between the parsed CLI and the library.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use std::path::PathBuf;

/// What every command gets from the global flags.
#[derive(Debug)]
pub struct Globals {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}
