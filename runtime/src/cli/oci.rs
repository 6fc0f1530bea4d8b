//! The verbs of the OCI runtime lifecycle: create, start, state, kill, delete.

use std::path::PathBuf;

use clap::Args;

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct CreateOpts {
    /// Path to the bundle directory (holding config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the init process's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (rootfs on ramfs).
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new `_ses.<id>` one.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (3, 4, ...) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Debug, Args)]
pub struct Create {
    #[command(flatten)]
    pub opts: CreateOpts,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Start {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct State {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Kill {
    /// Send the signal to every process in the container.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct Delete {
    /// Kill the container first if it is still running.
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}
