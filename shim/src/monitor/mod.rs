//! The standalone monitor (conmon's role): detach, create and start the
//! container through the runtime, keep its stdio, write CRI logs, serve
//! attach, record the exit.
//!
//! ```text
//! berth-shim --id ID --bundle DIR --state-dir DIR [--runtime PATH]
//!            [--runtime-root DIR] [--log-path FILE] [--log-size-max BYTES]
//!            [--log-max-files N] [--terminal] [--stdin] [--leave-stdin-open]
//!            [--exit-file FILE] [--delete-after-exit|--rm]
//!            [--container-pid-file FILE] [--shim-pid-file FILE]
//! berth-shim attach --state-dir DIR
//! berth-shim ctl --state-dir DIR resize ROWS COLS | reopen
//! ```
//!
//! The state dir holds `attach` ([`attach`]), `ctl` ([`ctl`]), `exit` and
//! `exit.json` ([`exitfile`]), `shim.pid` (while the monitor lives),
//! `container.pid`, `shim.log` (the monitor's own errors) and, by default,
//! `container.log` ([`logs`]). [`daemon`] is the start sequence,
//! [`event_loop`] the running monitor: one thread, one poll loop.

pub mod attach;
pub mod cli;
pub mod ctl;
pub mod daemon;
pub mod event_loop;
pub mod exitfile;
pub mod logs;
pub mod oom;
pub mod plan;
pub mod timefmt;

use clap::Parser;

/// The `berth-shim` binary: returns its exit code.
pub fn main() -> i32 {
    let cli = cli::Cli::parse();
    match cli.command {
        Some(cli::Command::Attach(a)) => report(attach::client(&a.state_dir.join("attach"))),
        Some(cli::Command::Ctl { to, words }) => {
            report(ctl::client(&to.state_dir.join("ctl"), &words))
        }
        None => match plan::plan(cli.start) {
            Ok(p) => daemon::start(p),
            Err(e) => {
                eprintln!("berth-shim: {e}");
                1
            }
        },
    }
}

fn report<E: std::fmt::Display>(r: Result<(), E>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            1
        }
    }
}
