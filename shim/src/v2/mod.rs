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
//! - [`stats`]: runc's stats JSON as cgroups v1 (or v2) Metrics;
//! - [`options`]: which runtime binary (BinaryName, Root, SystemdCgroup);
//! - [`mount`]: the rootfs mounts of the Create request;
//! - [`oom`]: the memory cgroup's OOM notices, for /tasks/oom.
//!
//! ## Crate choice
//! `containerd-shim-protos` 0.12 with its default (sync) features: the
//! generated protobuf types and the thread-based ttrpc 0.10 server and
//! client; no tokio, no async runtime. Not the `containerd-shim` 0.12
//! crate: its async mode is a tokio runtime; its sync mode registers the
//! Task service only under task API v3 (`containerd.task.v3.Task`), which
//! containerd 1.6 does not call (1.6 calls `containerd.task.v2.Task`; the
//! messages are the same), and it brings its own bootstrap, a reaper
//! `monitor` that would race ours for the runtime CLI's exit statuses, and
//! cgroups-rs, oci-spec, go-flag, signal-hook, sha2 and time. Our own
//! bootstrap is under 300 lines. From the protos crate we register the
//! generated Task methods under both service names, and reuse its Events
//! client for Forward.
//!
//! Memory (release build, one sleeping busybox, VmRSS, both shims in the
//! same run of tests/e2e/containerd-shim.bats): containerd-shim-berth-v2
//! 3.0-3.3 MB vs containerd-shim-runc-v2 13.1-13.3 MB (0.23-0.25x). Of
//! ours, ~2.5 MB is file-backed (libc text alone ~1.3 MB, mostly
//! fault-around of shared pages; our binary ~0.9 MB) and ~0.4 MB
//! anonymous. What keeps the anonymous part small: glibc held to one malloc
//! arena (every thread would otherwise get a heap of its own), 64 KiB
//! stacks for the reaper, copy and OOM threads, and a small ttrpc worker
//! pool (per connection a reader, a writer, min 1 / default 2 / max 3 idle
//! workers; a blocking Wait grows it on demand).
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
