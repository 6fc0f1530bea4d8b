//! Fork-style `clone3(2)`: a new process (optionally in new namespaces and
//! directly in a cgroup) that continues on a copy of the caller's stack, plus
//! the pidfd operations used to signal and wait for it without pid reuse races.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

/// `struct clone_args` from linux/sched.h (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which side of a [`fork`] the caller is on.
#[derive(Debug)]
pub enum Forked {
    Parent { pid: Pid, pidfd: OwnedFd },
    Child,
}

/// Creates a child process like fork(2), with `flags` (CLONE_NEW*) applied and,
/// when `cgroup` is given, started directly inside that cgroup v2 directory.
///
/// The caller must be single-threaded: berth never starts threads, which is what
/// makes it sound for the child to go on allocating and running Rust code.
pub fn fork(flags: u64, cgroup: Option<RawFd>) -> io::Result<Forked> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if flags & libc::CLONE_PARENT as u64 != 0 {
        // clone3 refuses an exit signal with CLONE_PARENT: the child takes
        // the caller's own (SIGCHLD), so its new parent is still notified.
        args.exit_signal = 0;
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: `args` is a fully initialised clone_args of the size we pass, and
    // `pidfd` outlives the call. With stack == 0 the child runs on a
    // copy-on-write copy of our stack exactly as after fork(2); berth is
    // single-threaded (no runtime threads exist, see module docs of process/),
    // so no lock can be held by a thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => {
            // SAFETY: on success with CLONE_PIDFD the kernel stored a new,
            // open file descriptor in `pidfd` that nobody else owns.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent {
                pid: Pid::from_raw(pid as i32),
                pidfd,
            })
        }
    }
}

/// Opens a pidfd for `pid` (pidfd_open(2)).
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers and returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Sends `signal` to the process behind `pidfd` (pidfd_send_signal(2)).
pub fn pidfd_send_signal(pidfd: &impl AsRawFd, signal: i32) -> io::Result<()> {
    // SAFETY: the fd is borrowed and valid for the call; info is NULL, which
    // the syscall defines as "behave like kill(2)".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
