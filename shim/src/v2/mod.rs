//! containerd's runtime v2 shim (`containerd-shim-berth-v2`, runtime name
//! `io.containerd.berth.v2`): the bootstrap `start`/`delete` commands and
//! the ttrpc Task service, driving the runtime through its CLI.
//!
//! Layout, by concern:
//! - [`args`]: containerd's Go-style command line;
//! - [`bootstrap`]: `start` (socket, daemon, `address` file), `delete`,
//!   and the daemon's main loop;
//! - [`service`]: the Task service (State, Create, Start, Delete, Pids,
//!   Pause, Resume, Kill, Exec, ResizePty, CloseIO, Update, Wait, Stats,
//!   Connect, Shutdown) over [`process`], the init/exec table;
//! - [`io`]: containerd's fifos joined to the process's pipes or pty;
//! - [`exits`]: the reaper thread and its dispatch (runtime commands get
//!   their own exit status; the rest goes to the service);
//! - [`events`]: publishing /tasks/* events to containerd;
//! - [`stats`]: runc's stats JSON as cgroups v1 Metrics;
//! - [`options`]: which runtime binary (BinaryName, Root, SystemdCgroup);
//! - [`mount`]: the rootfs mounts of the Create request;
//! - [`oom`]: the memory cgroup's OOM notices, for /tasks/oom.
//!
//! ## Crate choice
//! `containerd-shim-protos` 0.12 with its default (sync) features: the
//! generated protobuf types and the thread-based ttrpc 0.10 server and
//! client, no tokio. Not the `containerd-shim` crate: its sync mode still
//! brings its own bootstrap (a Go-like `Shim` trait, its own reaper
//! `monitor` and publisher threads, the `log` plumbing), and its async mode
//! a tokio runtime; its reaper would also race ours for the runtime
//! CLI's exit statuses. Our own bootstrap is ~250 lines. Two details of
//! the protos crate: it generates task API **v3** (service name
//! `containerd.task.v3.Task`), while containerd 1.6 calls
//! `containerd.task.v2.Task` with the same messages, so the methods are
//! registered under both names; and the events client is reused for
//! Forward.
//!
//! Memory: the sync ttrpc server costs a listener thread plus, per
//! connection, a reader, a writer and a small worker pool (min 1, default
//! 2, max 3 idle); copy threads run with 64 KiB stacks; glibc is held to one
//! malloc arena (each thread would otherwise get its own heap). See the
//! README for the measured RSS against containerd-shim-runc-v2.
//!
//! Not done: Checkpoint (ttrpc's "not supported"), `binary://` log URIs,
//! the shim cgroup option, and grouping several containers
//! in one shim (each container gets its own).

pub mod args;
pub mod bootstrap;
pub mod events;
pub mod exits;
pub mod io;
pub mod mount;
pub mod oom;
pub mod options;
pub mod process;
pub mod service;
pub mod stats;

use std::io::Write;

/// One log line on stderr (containerd's `log` fifo for the daemon).
/// Errors are ignored: nobody may be reading (containerd restarting), and
/// a shim must never die of its log.
pub fn log(msg: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "berth-shim[{}]: {msg}",
        std::process::id()
    );
}

/// The binary's entry point; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let (flags, verb) = match args::parse(argv) {
        Ok(x) => x,
        Err(e) => {
            log(&e.to_string());
            return 1;
        }
    };
    match verb {
        args::Verb::Version => {
            let _ = bootstrap::print(
                format!("containerd-shim-berth-v2 {}\n", env!("CARGO_PKG_VERSION")).as_bytes(),
            );
            0
        }
        args::Verb::Start => match bootstrap::start(&flags) {
            Ok(addr) => match bootstrap::print(addr.as_bytes()) {
                Ok(()) => 0,
                Err(_) => 1,
            },
            Err(e) => {
                log(&format!("start: {e}"));
                1
            }
        },
        args::Verb::Delete => match bootstrap::delete(&flags) {
            Ok(bytes) => match bootstrap::print(&bytes) {
                Ok(()) => 0,
                Err(_) => 1,
            },
            Err(e) => {
                log(&format!("delete: {e}"));
                1
            }
        },
        args::Verb::Serve => match bootstrap::serve(&flags) {
            Ok(()) => 0,
            Err(e) => {
                log(&format!("serve: {e}"));
                1
            }
        },
    }
}
