//! Detaching and starting, as conmon does it:
//!
//! 1. The caller's process validates the flags ([`super::plan`]), creates
//!    the state dir and a sync pipe, and forks. It then waits on the pipe.
//! 2. The child calls setsid and forks again, and exits; the grandchild,
//!    in a session of its own and reparented away from the caller, is
//!    the monitor. It closes every inherited fd, points stdin/stdout at
//!    /dev/null and stderr at `STATE_DIR/shim.log` (its own later
//!    errors), becomes a child subreaper, writes `shim.pid`, makes the
//!    container's stdio (pipes, or a pty received on
//!    `STATE_DIR/console.sock`), runs the runtime's `create`, binds the
//!    attach and control sockets, and runs `start`.
//! 3. It writes `ok PID\n` or `error MESSAGE\n` on the sync pipe. The
//!    caller prints the container's pid and exits 0, or prints the one-line
//!    error and exits 1; on error the monitor has already run
//!    `delete --force` and removed every file it made (and the state dir
//!    if it made it). If the caller is gone by then, the monitor carries on.
//! 4. The monitor runs [`super::event_loop`] until the container has
//!    exited and its output is drained.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

use super::attach::{AttachServer, StdinSink};
use super::ctl::CtlServer;
use super::event_loop::{Monitor, Output};
use super::logs::{CriLog, Stream};
use super::oom::OomWatch;
use super::plan::Plan;
use crate::runtime::{CreateOpts, Direct};
use crate::sys::fork_single_threaded;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Log(#[from] super::logs::LogError),
    #[error(transparent)]
    Attach(#[from] super::attach::AttachError),
    #[error(transparent)]
    Ctl(#[from] super::ctl::CtlError),
}

/// Wraps an io (or errno) error with what was being done.
fn io_err<E: Into<io::Error>>(what: impl std::fmt::Display) -> impl FnOnce(E) -> StartError {
    move |e| StartError::Io {
        what: what.to_string(),
        source: e.into(),
    }
}

/// How long the runtime may take to send the pty after `create` returned.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The signals the monitor takes through its signalfd.
pub const SIGNALS: [Signal; 4] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
];

/// Runs the caller's side: returns the process exit code.
pub fn start(plan: Plan) -> i32 {
    let created_dir = !plan.state_dir.exists();
    if let Err(e) = fs::create_dir_all(&plan.state_dir) {
        eprintln!("berth-shim: --state-dir {}: {e}", plan.state_dir.display());
        return 1;
    }
    let fail = |msg: String| {
        eprintln!("berth-shim: {msg}");
        if created_dir {
            let _ = fs::remove_dir(&plan.state_dir);
        }
        1
    };
    let (sync_r, sync_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(format!("sync pipe: {e}")),
    };
    match fork_single_threaded() {
        Err(e) => fail(format!("fork: {e}")),
        Ok(ForkResult::Parent { child }) => {
            drop(sync_w);
            let _ = waitpid(child, None);
            let mut reply = String::new();
            let _ = fs::File::from(sync_r).read_to_string(&mut reply);
            if let Some(pid) = reply.strip_prefix("ok ") {
                println!("{}", pid.trim());
                0
            } else if let Some(msg) = reply.strip_prefix("error ") {
                eprintln!("berth-shim: {}", msg.trim_end());
                1
            } else {
                eprintln!(
                    "berth-shim: the monitor died while starting the container (see {})",
                    plan.shim_log().display()
                );
                1
            }
        }
        Ok(ForkResult::Child) => {
            drop(sync_r);
            if nix::unistd::setsid().is_err() {
                std::process::exit(1);
            }
            match fork_single_threaded() {
                Ok(ForkResult::Child) => {
                    let code = monitor(plan, created_dir, sync_w);
                    std::process::exit(code)
                }
                // The intermediate exits at once: the monitor is orphaned
                // and can never regain a controlling terminal.
                _ => std::process::exit(0),
            }
        }
    }
}

/// The files the monitor made, removed on a failed start.
#[derive(Debug, Default)]
struct Made {
    files: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

impl Made {
    fn undo(&self) {
        for f in &self.files {
            let _ = fs::remove_file(f);
        }
        if let Some(d) = &self.dir {
            let _ = fs::remove_dir(d);
        }
    }
}

/// The monitor's life; returns its exit code.
fn monitor(plan: Plan, created_dir: bool, sync: OwnedFd) -> i32 {
    let mut made = Made {
        files: vec![plan.shim_log(), plan.shim_pid()],
        dir: created_dir.then(|| plan.state_dir.clone()),
    };
    made.files.extend(plan.shim_pid_file.clone());
    let mut sync = fs::File::from(sync);
    if let Err(e) = detach_stdio(&plan, sync.as_raw_fd()) {
        let _ = writeln!(sync, "error monitor setup: {e}");
        made.undo();
        return 1;
    }
    match setup(&plan, &mut made) {
        Ok(m) => {
            let _ = writeln!(sync, "ok {}", m.init_pid());
            drop(sync);
            crate::sys::monitor::trim_heap();
            m.run();
            let _ = fs::remove_file(plan.shim_pid());
            0
        }
        Err(e) => {
            let one_line = e.to_string().replace('\n', " ");
            eprintln!("berth-shim: {one_line}");
            made.undo();
            let _ = writeln!(sync, "error {one_line}");
            1
        }
    }
}

fn detach_stdio(plan: &Plan, keep: i32) -> io::Result<()> {
    crate::sys::monitor::close_fds_except(keep)?;
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(plan.shim_log())?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    nix::unistd::dup2_stderr(&log)?;
    std::env::set_current_dir("/")?;
    Ok(())
}

fn write_pid(path: &Path, pid: u32) -> Result<(), StartError> {
    fs::write(path, pid.to_string()).map_err(io_err(path.display()))
}

/// Everything up to a started container; undoes itself on error.
fn setup(plan: &Plan, made: &mut Made) -> Result<Monitor, StartError> {
    crate::reaper::become_subreaper().map_err(io_err("subreaper"))?;
    // The container inherits our mask through the runtime: whatever the
    // caller had blocked must not reach it.
    SigSet::empty()
        .thread_set_mask()
        .map_err(io_err("signal mask"))?;
    // Left by an earlier monitor of this state dir (none is alive: the
    // plan checked shim.pid): a stale exit file would be taken for ours.
    for stale in [
        &plan.exit_file,
        &plan.exit_json,
        &plan.attach_socket(),
        &plan.ctl_socket(),
        &plan.console_socket(),
    ] {
        let _ = fs::remove_file(stale);
    }
    write_pid(&plan.shim_pid(), std::process::id())?;
    if let Some(p) = &plan.shim_pid_file {
        write_pid(p, std::process::id())?;
    }
    made.files.push(plan.container_pid_file.clone());
    if !plan.log.path.exists() {
        made.files.push(plan.log.path.clone());
    }
    let log = CriLog::open(plan.log.clone())?;

    let mut opts = CreateOpts {
        pid_file: Some(plan.container_pid_file.clone()),
        ..Default::default()
    };
    let mut console = None;
    let mut ends = None;
    if plan.terminal {
        let path = plan.console_socket();
        made.files.push(path.clone());
        let l = UnixListener::bind(&path).map_err(io_err(path.display()))?;
        opts.console_socket = Some(path);
        console = Some(l);
    } else {
        let (io, shim) = crate::stdio::pipes(plan.stdin).map_err(io_err("stdio pipes"))?;
        opts.io = io;
        ends = Some(shim);
    }
    let rt = &plan.runtime;
    let started = (|| {
        // A failed create may still have left state behind: the delete
        // below covers it too.
        rt.create(&Direct, &plan.id, &plan.bundle, opts)?;
        let mut outputs = Vec::new();
        let stdin;
        let mut tty = None;
        if let Some(l) = console {
            let master = receive_pty(&l).map_err(io_err("console socket"))?;
            drop(l);
            let _ = fs::remove_file(plan.console_socket());
            let dup = |f: &OwnedFd| f.try_clone().map_err(io_err("pty master"));
            stdin = StdinSink::new(plan.stdin.then(|| dup(&master)).transpose()?, true);
            tty = Some(dup(&master)?);
            outputs.push(Output::new(Stream::Stdout, master));
        } else {
            let e = ends.take().expect("pipes made when there is no terminal");
            stdin = StdinSink::new(e.stdin, false);
            outputs.push(Output::new(Stream::Stdout, e.stdout));
            outputs.push(Output::new(Stream::Stderr, e.stderr));
        }
        let stdin = stdin.map_err(io_err("container stdin"))?;
        let outputs = outputs
            .into_iter()
            .collect::<io::Result<Vec<_>>>()
            .map_err(io_err("container output"))?;
        let pid = crate::runtime::read_pid_file(&plan.container_pid_file)
            .map_err(io_err("container pid file"))?;
        let oom = OomWatch::find(pid);
        made.files.push(plan.attach_socket());
        let attach = AttachServer::bind(&plan.attach_socket(), plan.leave_stdin_open)?;
        made.files.push(plan.ctl_socket());
        let ctl = CtlServer::bind(&plan.ctl_socket())?;
        rt.start(&Direct, &plan.id)?;
        // Only now: a blocked mask is inherited through the runtime by the
        // container's init (std's Command keeps it, and a runtime may too).
        // A child that exits before this is still a zombie for the loop.
        let mut mask = SigSet::empty();
        for s in SIGNALS {
            mask.add(s);
        }
        mask.thread_block().map_err(io_err("signal mask"))?;
        let sig = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(io_err("signalfd"))?;
        Ok(Monitor {
            plan: plan.clone(),
            init: pid,
            outputs,
            stdin,
            tty,
            log,
            attach,
            ctl,
            sig,
            oom,
        })
    })();
    if started.is_err() {
        let _ = rt.delete(&Direct, &plan.id, true);
    }
    started
}

/// Waits (bounded) for the runtime's connection and takes the pty master.
fn receive_pty(l: &UnixListener) -> io::Result<OwnedFd> {
    let mut fds = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
    let ms = CONSOLE_TIMEOUT.as_millis() as u16;
    if poll(&mut fds, PollTimeout::from(ms))? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the runtime sent no pty",
        ));
    }
    let (conn, _) = l.accept()?;
    crate::console::recv_fd(&conn)
}
