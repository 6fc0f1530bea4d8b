//! `exec`: a new process in an existing container. berth enters the
//! container's PID (and time) namespace for its children only, forks, and
//! the child joins every other namespace of the init at once through a
//! pidfd (the kernel enters the user namespace first), takes the init's
//! root, waits until the parent has placed it in the container's cgroups
//! (on v2 and hybrid hosts it is cloned straight into the unified one), and
//! finishes like the init does ([`super::finish`]). The child is
//! non-dumpable from its first instruction, so nothing in the container can
//! reach the berth binary through its /proc entry (CVE-2019-5736).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::finish::Finish;
use super::init::{nix_io, InitError};
use super::launch::{write_pid_file, LaunchError};
use super::sync::{self, Channel, ToChild, ToParent};
use crate::hooks::HookState;
use crate::spec::plan::ns_flag;
use crate::state::Container;
use crate::sys::clone::{self, Forked};
use crate::sys::fs::exit_now;

#[derive(Debug)]
pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub container: &'a Container,
    /// The container's config (namespaces, seccomp).
    pub spec: &'a Spec,
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: u32,
    /// The container is paused (and --ignore-paused was given): join its
    /// frozen cgroups only once the process has exec'd.
    pub paused: bool,
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let op = op.into();
    move |source| LaunchError::Io { op, source }
}

/// The namespaces the container has (new or joined at create), split into
/// those that apply to children only (pid, time) and the rest.
fn namespace_flags(spec: &Spec) -> (CloneFlags, CloneFlags) {
    let mut children = CloneFlags::empty();
    let mut rest = CloneFlags::empty();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    for ns in list.unwrap_or_default() {
        match ns.typ() {
            LinuxNamespaceType::Pid | LinuxNamespaceType::Time => children |= ns_flag(ns.typ()),
            t => rest |= ns_flag(t),
        }
    }
    (children, rest)
}

/// Runs the process; returns its exit code in the foreground, 0 detached.
pub fn exec(o: &ExecOptions<'_>) -> Result<i32, LaunchError> {
    let st = &o.container.state;
    let init = Pid::from_raw(st.pid);
    let init_fd = clone::pidfd_open(init).map_err(io("open the container init's pidfd"))?;
    if !crate::state::status::is_alive(st.pid, st.berth.init_start_time) {
        return Err(LaunchError::Init(
            "cannot exec in a stopped container".into(),
        ));
    }
    let init_root = nix::fcntl::open(
        format!("/proc/{}/root", st.pid).as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io("open the container's root")(e.into()))?;
    let caps = o
        .process
        .capabilities()
        .as_ref()
        .map(crate::caps::CapSets::from_spec)
        .transpose()?;
    let seccomp = o
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| crate::seccomp::cache::compile(o.root, s))
        .transpose()
        .map_err(crate::spec::SpecError::from)?;
    let lsm = crate::lsm::plan(
        o.process.apparmor_profile().as_deref(),
        o.process.selinux_label().as_deref(),
        None,
        crate::lsm::LsmHost::probe(),
    )?;
    let placement = crate::cgroups::open(&st.berth.cgroup_paths)?;
    // Cloned straight into the unified cgroup where there is one, unless it
    // is the frozen one.
    let into = match (&placement.v2, o.paused && placement.v1.is_empty()) {
        (Some(dir), false) => Some(
            nix::fcntl::open(
                dir,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io(format!("open cgroup {}", dir.display()))(e.into()))?,
        ),
        _ => None,
    };
    let terminal = o.process.terminal().unwrap_or(false);
    let (console_socket, console_recv) =
        crate::console::socket_for(terminal, o.console_socket).map_err(io("console"))?;
    let (parent_chan, child_chan) = sync::pair().map_err(io("sync socketpair"))?;
    let mut old_mask = SigSet::thread_get_mask().map_err(|e| io("read signal mask")(e.into()))?;
    if !o.detach {
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| io("become subreaper")(e.into()))?;
        nix::sys::signal::sigprocmask(
            SigmaskHow::SIG_BLOCK,
            Some(&SigSet::all()),
            Some(&mut old_mask),
        )
        .map_err(|e| io("block signals")(e.into()))?;
    }
    let (children, rest) = namespace_flags(o.spec);
    if !children.is_empty() {
        nix::sched::setns(init_fd.as_fd(), children)
            .map_err(|e| io("join the container's pid namespace")(e.into()))?;
    }
    let was_dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    let _ = nix::sys::prctl::set_dumpable(false);
    let forked =
        clone::fork(0, into.as_ref().map(|f| f.as_raw_fd())).map_err(io("clone exec process"));
    if !matches!(forked, Ok(Forked::Child)) && was_dumpable {
        let _ = nix::sys::prctl::set_dumpable(true);
    }
    let (pid, pidfd) = match forked? {
        Forked::Child => {
            drop(parent_chan);
            drop(console_recv);
            let child = Child {
                init_fd: &init_fd,
                init_root: &init_root,
                namespaces: rest,
                chan: &child_chan,
                console_socket: console_socket.as_ref(),
                finish: Finish {
                    process: &o.process,
                    caps: caps.as_ref(),
                    seccomp: seccomp.as_ref(),
                    lsm: &lsm,
                    chan: &child_chan,
                    sigmask: SigSet::empty(),
                },
                preserve_fds: o.preserve_fds,
            };
            let err = match child.run() {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child_chan.send(&ToParent::Error(err.to_string()));
            exit_now(1)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_chan);
    drop(console_socket);
    let fail = |e: LaunchError| {
        let _ = clone::pidfd_send_signal(&pidfd, libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        e
    };
    let join = |all: bool| -> Result<(), LaunchError> {
        let pid = pid.as_raw().to_string();
        let dirs = placement.v1.iter().map(|(_, p)| p);
        let dirs: Vec<_> = match (all || into.is_none(), &placement.v2) {
            (true, Some(v2)) => dirs.chain(std::iter::once(v2)).collect(),
            _ => dirs.collect(),
        };
        for d in dirs {
            let f = d.join("cgroup.procs");
            std::fs::write(&f, &pid).map_err(io(format!("join cgroup {}", d.display())))?;
        }
        Ok(())
    };
    if !o.paused {
        join(false).map_err(fail)?;
    }
    parent_chan
        .send(&ToChild::Continue)
        .map_err(io("sync"))
        .map_err(fail)?;
    let listener = seccomp.as_ref().and_then(|s| s.listener.as_ref());
    wait_exec(&parent_chan, o, pid, listener).map_err(fail)?;
    if o.paused {
        join(true).map_err(fail)?;
    }
    if let Some(p) = o.pid_file {
        write_pid_file(p, pid.as_raw()).map_err(fail)?;
    }
    let console = match console_recv {
        Some(sock) => Some(
            crate::console::recv_fd(&sock)
                .map_err(io("receive pty master"))
                .map_err(fail)?,
        ),
        None => None,
    };
    if o.detach {
        return Ok(0);
    }
    super::foreground::wait(pid, &pidfd, console).map_err(io("wait for the exec'd process"))
}

/// Serves the child's seccomp listener fd until it has exec'd (EOF) or
/// reports why it could not.
fn wait_exec(
    chan: &Channel,
    o: &ExecOptions<'_>,
    pid: Pid,
    listener: Option<&crate::seccomp::ListenerPlan>,
) -> Result<(), LaunchError> {
    let st = &o.container.state;
    loop {
        match chan.recv::<ToParent>().map_err(io("sync"))? {
            None => return Ok(()),
            Some(ToParent::SeccompListener) => {
                let fd = chan.take_fd().ok_or_else(|| {
                    LaunchError::Init("seccomp listener message without an fd".into())
                })?;
                let Some(listener) = listener else {
                    return Err(LaunchError::Init(
                        "seccomp listener fd without a listenerPath".into(),
                    ));
                };
                let state = HookState {
                    oci_version: &st.oci_version,
                    id: &st.id,
                    status: "running",
                    pid: Some(pid.as_raw()),
                    bundle: &st.bundle,
                    annotations: Some(&st.annotations),
                };
                crate::seccomp::listener::send(listener, &state, fd.as_fd()).map_err(io(
                    format!(
                        "linux.seccomp.listenerPath: send to {}",
                        listener.path.display()
                    ),
                ))?;
            }
            Some(ToParent::Error(msg)) => return Err(LaunchError::Init(msg)),
            Some(other) => {
                return Err(LaunchError::Init(format!(
                    "unexpected message from exec process: {other:?}"
                )))
            }
        }
    }
}

/// What the forked child needs.
struct Child<'a> {
    init_fd: &'a OwnedFd,
    init_root: &'a OwnedFd,
    namespaces: CloneFlags,
    chan: &'a Channel,
    console_socket: Option<&'a OwnedFd>,
    finish: Finish<'a>,
    preserve_fds: u32,
}

impl Child<'_> {
    fn run(&self) -> Result<std::convert::Infallible, InitError> {
        nix::sys::prctl::set_dumpable(false).map_err(nix_io("set non-dumpable"))?;
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(nix_io("set parent death signal"))?;
        if !self.namespaces.is_empty() {
            nix::sched::setns(self.init_fd.as_fd(), self.namespaces)
                .map_err(nix_io("join the container's namespaces"))?;
        }
        // The init's root, not the mount namespace's: the same after
        // pivot_root, and the chroot with --no-pivot.
        nix::unistd::fchdir(self.init_root).map_err(nix_io("enter the container's root"))?;
        nix::unistd::chroot(".").map_err(nix_io("chroot into the container's root"))?;
        match self.chan.recv::<ToChild>() {
            Ok(Some(ToChild::Continue)) => {}
            _ => return Err(InitError::LauncherGone),
        }
        nix::unistd::setsid().map_err(nix_io("setsid"))?;
        let process = self.finish.process;
        if let Some(socket) = self.console_socket {
            let size = process
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16));
            crate::console::setup(&crate::sys::RealKernel, socket, size, false)?;
        }
        let root = nix::fcntl::open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(nix_io("open /"))?;
        let cwd = crate::rootfs::paths::open_in_root_with(
            &root,
            process.cwd(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|source| InitError::Io {
            op: format!("process.cwd {}", process.cwd().display()),
            source,
        })?;
        drop(root);
        let (argv, envp) = self.finish.setup(&cwd)?;
        drop(cwd);
        // Outlives berth once exec'd (a detached exec is left to the
        // caller's subreaper).
        nix::sys::prctl::set_pdeathsig(None).map_err(nix_io("clear parent death signal"))?;
        let keep = [self.chan.fd().as_raw_fd()];
        self.finish.exec(&argv, &envp, self.preserve_fds, &keep)
    }
}
