//! The command line: `berth-shim [START FLAGS]` starts and monitors one
//! container; `berth-shim attach` and `berth-shim ctl` are the small
//! clients of a running monitor's sockets.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth-shim",
    about = "Start an OCI container through a runtime and monitor it: stdio, CRI logs, attach, exit file",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub start: StartArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach to a running monitor: its output to stdout/stderr, stdin to it.
    Attach(ClientArgs),
    /// Send one control command (`resize ROWS COLS`, `reopen`).
    Ctl {
        #[command(flatten)]
        to: ClientArgs,
        /// The command and its arguments, e.g. `resize 24 80`.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The monitor's state dir (holding `attach` and `ctl`).
    #[arg(long)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct StartArgs {
    /// Container id (passed to the runtime).
    #[arg(long, required = true)]
    pub id: Option<String>,
    /// Bundle directory (holding config.json).
    #[arg(long, required = true)]
    pub bundle: Option<PathBuf>,
    /// The runtime binary: a path, or a name looked up on PATH.
    #[arg(long, default_value = "berth")]
    pub runtime: PathBuf,
    /// The runtime's `--root`.
    #[arg(long)]
    pub runtime_root: Option<PathBuf>,
    /// The monitor's own files: attach, ctl, exit, exit.json, shim.pid, ...
    #[arg(long, required = true)]
    pub state_dir: Option<PathBuf>,
    /// The CRI log file [default: STATE_DIR/container.log].
    #[arg(long)]
    pub log_path: Option<PathBuf>,
    /// Rotate the log before it would pass this many bytes (0: never).
    #[arg(long, default_value_t = 0)]
    pub log_size_max: u64,
    /// Files kept across rotations, the live one included.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub log_max_files: u32,
    /// Give the container a pty (config.json must say process.terminal).
    #[arg(long)]
    pub terminal: bool,
    /// Keep the container's stdin open for attach clients.
    #[arg(long)]
    pub stdin: bool,
    /// Do not close the container's stdin when its attach writer leaves.
    #[arg(long)]
    pub leave_stdin_open: bool,
    /// Where the exit code goes [default: STATE_DIR/exit].
    #[arg(long)]
    pub exit_file: Option<PathBuf>,
    /// Run the runtime's `delete` once the container has exited.
    #[arg(long, visible_alias = "rm")]
    pub delete_after_exit: bool,
    /// The container's pid file [default: STATE_DIR/container.pid].
    #[arg(long)]
    pub container_pid_file: Option<PathBuf>,
    /// A second copy of the monitor's pid (STATE_DIR/shim.pid is always written).
    #[arg(long)]
    pub shim_pid_file: Option<PathBuf>,
}
