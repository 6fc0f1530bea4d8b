//! The container's init process, from clone3 to execve. Runs single-threaded
//! in the child; never logs; every failure is reported to whoever waits on
//! it (the launcher over the sync socket, or `start` through the exec fifo)
//! and ends the process with status 1.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::finish::Finish;
use super::sync::{Channel, ToChild, ToParent};
use super::user;
use crate::caps::CapSets;
use crate::hooks::{self, HookState};
use crate::rootfs::{self, paths, RootfsPlan};
use crate::spec::plan::{is_parent_joined, Plan, SpawnMode};
use crate::sys::clone::Forked;
use crate::sys::fs::exit_now;
use crate::sys::{Kernel, RealKernel};

/// Why the init could not reach execve. The text is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NamespaceError),
    #[error(transparent)]
    Caps(#[from] crate::caps::CapsError),
    #[error(transparent)]
    Rlimit(#[from] crate::rlimits::RlimitError),
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("launcher went away during setup")]
    LauncherGone,
}

pub(crate) fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let op = op.into();
    move |source| InitError::Io { op, source }
}

pub(crate) fn nix_io(op: impl Into<String>) -> impl FnOnce(nix::Error) -> InitError {
    let op = op.into();
    move |e| InitError::Io {
        op,
        source: e.into(),
    }
}

/// How the init learns that it may exec.
#[derive(Debug)]
pub enum WaitFor {
    /// `create`: block opening `exec.fifo` in this state directory until
    /// `start` opens it for reading.
    Fifo(OwnedFd),
    /// `run`: a Start message on the sync channel.
    Message,
}

/// What the launcher hands its child; decided entirely before clone.
pub struct InitContext<'a> {
    pub plan: &'a Plan,
    pub rootfs: RootfsPlan<'a>,
    pub chan: Channel,
    pub wait: WaitFor,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub sigmask: SigSet,
    pub caps: Option<CapSets>,
    pub container_id: &'a str,
    pub time_offsets: Option<String>,
    /// Join a fresh session keyring (false with --no-new-keyring).
    pub new_keyring: bool,
    /// linux.seccomp, compiled by the launcher.
    pub seccomp: Option<crate::seccomp::Compiled>,
    /// AppArmor profile and SELinux label to take on exec.
    pub lsm: crate::lsm::LsmPlan,
}

/// Entry point of the child after clone3. Never returns.
pub fn run(mut ctx: InitContext<'_>) -> ! {
    let k = RealKernel;
    let mut fifo = None;
    let err = match main(&k, &mut ctx, &mut fifo) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let text = err.to_string();
    match fifo {
        // `start` is reading the fifo: everything after the "0" is an error.
        Some(mut f) => {
            let _ = std::fs::File::write_all(&mut f, text.as_bytes());
        }
        None => {
            let _ = ctx.chan.send(&ToParent::Error(text));
        }
    }
    exit_now(1)
}

fn wait_continue(chan: &Channel) -> Result<(), InitError> {
    match chan.recv::<ToChild>().map_err(io("sync"))? {
        Some(ToChild::Continue) => Ok(()),
        _ => Err(InitError::LauncherGone),
    }
}

fn become_root_in_userns() -> Result<(), InitError> {
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(nix_io("setresgid in user namespace"))?;
    nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(nix_io("setresuid in user namespace"))
}

/// Intermediate mode: join, create the user namespace (maps by the
/// launcher), unshare the rest, then fork the real init as a sibling (it is
/// the launcher's child, so `run` can wait for it) and exit.
fn intermediate(k: &impl Kernel, ctx: &InitContext<'_>) -> Result<(), InitError> {
    let ns = &ctx.plan.namespaces;
    crate::namespaces::join_all(k, &ns.joins)?;
    if ns.creates(CloneFlags::CLONE_NEWUSER) {
        k.unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(io("unshare user namespace"))?;
        ctx.chan.send(&ToParent::MapsPlease).map_err(io("sync"))?;
        wait_continue(&ctx.chan)?;
        become_root_in_userns()?;
    }
    let time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    let rest = ns.new & !(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWCGROUP | time);
    k.unshare(rest).map_err(io("unshare namespaces"))?;
    if ns.creates(time) {
        k.unshare(time).map_err(io("unshare time namespace"))?;
        if let Some(text) = &ctx.time_offsets {
            // Our /proc files belong to the host's root while we are not
            // dumpable, which root in a user namespace may not write. This
            // process lives in the launcher's PID namespace: nothing in the
            // container can see it during the window.
            nix::sys::prctl::set_dumpable(true).map_err(nix_io("set dumpable"))?;
            let written = std::fs::write("/proc/self/timens_offsets", text);
            nix::sys::prctl::set_dumpable(false).map_err(nix_io("set non-dumpable"))?;
            written.map_err(io("write timens_offsets"))?;
        }
    }
    match crate::sys::clone::fork(libc::CLONE_PARENT as u64, None).map_err(io("fork init"))? {
        Forked::Child => Ok(()),
        Forked::Parent { pid, .. } => {
            let _ = ctx.chan.send(&ToParent::Forked(pid.as_raw()));
            exit_now(0)
        }
    }
}

fn main(
    k: &impl Kernel,
    ctx: &mut InitContext<'_>,
    fifo: &mut Option<std::fs::File>,
) -> Result<Infallible, InitError> {
    let plan = ctx.plan;
    let ns = &plan.namespaces;
    // Not dumpable: no process in the container can open /proc/<pid>/exe
    // (the berth binary) or our fds while we set up (CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).map_err(nix_io("set non-dumpable"))?;
    if ns.mode == SpawnMode::Intermediate {
        intermediate(k, ctx)?;
    }
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(nix_io("set parent death signal"))?;
    // Its own session and process group, as runc's init: kill(0, sig) or a
    // terminal's job control inside must never reach the caller's group.
    nix::unistd::setsid().map_err(nix_io("setsid"))?;
    wait_continue(&ctx.chan)?;
    if ns.mode == SpawnMode::Direct {
        if ns.creates(CloneFlags::CLONE_NEWUSER) {
            become_root_in_userns()?;
        }
        let joins: Vec<_> = ns
            .joins
            .iter()
            .filter(|(f, _)| !is_parent_joined(*f))
            .cloned()
            .collect();
        crate::namespaces::join_all(k, &joins)?;
    }
    if ns.creates(CloneFlags::CLONE_NEWCGROUP) {
        k.unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(io("unshare cgroup namespace"))?;
    }
    setup_system(k, plan)?;
    let process = plan.process();
    rootfs::prepare(k, &ctx.rootfs)?;
    let hooks = plan.spec.hooks().as_ref();
    #[allow(deprecated)]
    if hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    }) {
        ctx.chan.send(&ToParent::RuntimeHooks).map_err(io("sync"))?;
        match ctx.chan.recv::<ToChild>().map_err(io("sync"))? {
            Some(ToChild::HooksDone) => {}
            _ => return Err(InitError::LauncherGone),
        }
    }
    // Hooks in the container namespace see the pid as the container does.
    let own_pid = nix::unistd::getpid().as_raw();
    let state = |status| HookState {
        oci_version: plan.spec.version(),
        id: ctx.container_id,
        status,
        pid: Some(own_pid),
        bundle: &plan.bundle,
        annotations: plan.spec.annotations().as_ref(),
    };
    if let Some(list) = hooks.and_then(|h| h.create_container().as_ref()) {
        hooks::run_all("createContainer", list, &state("creating"))?;
    }
    rootfs::pivot(k, &plan.rootfs, ctx.rootfs.no_pivot)?;
    rootfs::finalize(k, &ctx.rootfs)?;
    if process.terminal().unwrap_or(false) {
        let socket = ctx.console_socket.as_ref().ok_or_else(|| {
            io("console")(std::io::Error::other(
                "terminal requested but no console socket",
            ))
        })?;
        let size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::console::setup(k, socket, size, true)?;
    }
    if ctx.new_keyring {
        session_keyring(ctx.container_id, ns.creates(CloneFlags::CLONE_NEWUSER))?;
    }
    // The cwd is resolved only now, inside the container's root, and never
    // through a magic link: no fd of the launcher can lend it a host path.
    let cwd = paths::ensure(&open_dir(Path::new("/"))?, process.cwd(), paths::Kind::Dir)
        .map_err(io(format!("process.cwd {}", process.cwd().display())))?;
    let finish = Finish {
        process,
        caps: ctx.caps.as_ref(),
        seccomp: ctx.seccomp.as_ref(),
        lsm: &ctx.lsm,
        chan: &ctx.chan,
        sigmask: ctx.sigmask,
    };
    let (argv, envp) = finish.setup(&cwd)?;
    drop(cwd);
    ctx.chan.send(&ToParent::Ready).map_err(io("sync"))?;
    // Keep dying with the launcher until it has saved our state: a launcher
    // killed before that must not leave an init nobody knows about.
    match ctx.chan.recv::<ToChild>().map_err(io("sync"))? {
        Some(ToChild::Committed) => {}
        _ => return Err(InitError::LauncherGone),
    }
    nix::sys::prctl::set_pdeathsig(None).map_err(nix_io("clear parent death signal"))?;
    ctx.chan.send(&ToParent::Detached).map_err(io("sync"))?;
    match std::mem::replace(&mut ctx.wait, WaitFor::Message) {
        WaitFor::Fifo(dir) => {
            let fd = nix::fcntl::openat(
                dir.as_fd(),
                crate::state::EXEC_FIFO,
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(nix_io("open exec fifo"))?;
            // The host directory fd goes before anything resolves a path again.
            drop(dir);
            let mut f = std::fs::File::from(fd);
            f.write_all(b"0").map_err(io("write exec fifo"))?;
            *fifo = Some(f);
        }
        WaitFor::Message => match ctx.chan.recv::<ToChild>().map_err(io("sync"))? {
            Some(ToChild::Start) => {}
            _ => return Err(InitError::LauncherGone),
        },
    }
    if let Some(list) = hooks.and_then(|h| h.start_container().as_ref()) {
        hooks::run_all("startContainer", list, &state("created"))?;
    }
    // Close (not just mark) every fd but stdio, --preserve-fds and our two
    // non-directory channels before the program is resolved.
    let keep = [
        ctx.chan.fd().as_raw_fd(),
        fifo.as_ref().map_or(-1, |f| f.as_raw_fd()),
    ];
    match finish.exec(&argv, &envp, ctx.preserve_fds, &keep)? {}
}

/// Gives the container its own session keyring (`_ses.<id>`), as runc does
/// unless --no-new-keyring, so it never shares the caller's. The keyring is
/// made searchable by the container's user (by "other" in a user namespace,
/// where the owner uid differs). Kernels without keyrings are fine.
fn session_keyring(id: &str, userns: bool) -> Result<(), InitError> {
    use crate::sys::fs::{join_session_keyring, key_perm, set_key_perm};
    let serial = match join_session_keyring(&format!("_ses.{id}")) {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(()),
        Err(e) => return Err(io("join session keyring")(e)),
    };
    let search = if userns { 0x8 } else { 0x8_0000 };
    let perm = key_perm(serial).map_err(io("describe session keyring"))?;
    set_key_perm(serial, perm | search).map_err(io("set session keyring permissions"))
}

fn open_dir(path: &Path) -> Result<OwnedFd, InitError> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(nix_io(format!("open {}", path.display())))
}

/// Hostname, domain name and sysctls: written while the host's
/// /proc is still mounted, but already inside the container's namespaces.
fn setup_system(k: &impl Kernel, plan: &Plan) -> Result<(), InitError> {
    if let Some(h) = plan.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        k.sethostname(h).map_err(io("sethostname"))?;
    }
    if let Some(d) = plan.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        k.setdomainname(d).map_err(io("setdomainname"))?;
    }
    if let Some(sysctl) = plan.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        for (key, value) in sysctl {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value)
                .map_err(io(format!("linux.sysctl.{key}: write {path}")))?;
        }
    }
    Ok(())
}
