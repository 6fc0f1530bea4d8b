//! runc's verbs beyond the OCI lifecycle.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::oci::CreateOpts;

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub create: super::oci::Create,
    /// Return once the process is started; do not wait for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
}

impl Run {
    pub fn opts(&self) -> &CreateOpts {
        &self.create.opts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct List {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct Spec {
    /// Where to write config.json.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A spec for a rootless container.
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Debug, Args)]
pub struct Features {}

/// `update`: change a running container's resources (runc's flags).
#[derive(Debug, Args)]
pub struct Update {
    /// LinuxResources JSON file to apply, or `-` for standard input.
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Block IO weight (10 to 1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<String>,
    /// CPU CFS quota in microseconds (-1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU burst in microseconds.
    #[arg(long)]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<String>,
    /// CPU realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime runtime in microseconds.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPUs the container may run on (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (0-3, 0,1).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated by the kernel).
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit.
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// SCHED_IDLE for the cgroup (0 or 1).
    #[arg(long)]
    pub cpu_idle: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1 or 0 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

/// `pause` / `resume`: freeze or thaw every process of the container.
#[derive(Debug, Args)]
pub struct Pause {
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PsFormat {
    #[default]
    Table,
    Json,
}

/// `ps`: the container's processes (ps(1) options after the id).
#[derive(Debug, Args)]
pub struct Ps {
    #[arg(short = 'f', long, value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,
    pub id: String,
    /// Options passed to ps(1), after `--`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `events`: resource usage and OOM notifications.
#[derive(Debug, Args)]
pub struct Events {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (Go duration: 5s, 500ms, 1m).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

/// `exec`: run another process in a container (runc's flags).
#[derive(Debug, Args)]
pub struct Exec {
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=value); later ones win.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID[:GID] to run as.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// A runtime-spec Process JSON to run instead of the arguments.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Return once the process runs; it is left to the caller's subreaper.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process.
    #[arg(long)]
    pub process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privileges.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective and permitted sets.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass this many extra fds (3, 4, ...) to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Exec into a paused container; the process joins the frozen cgroup once it runs.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Accepted for runc compatibility: berth's exec never becomes a subreaper when detached.
    #[arg(long, hide = true)]
    pub no_subreaper: bool,
    /// Run in this sub-cgroup of the container (not supported).
    #[arg(long)]
    pub cgroup: Vec<String>,
    pub id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
