//! The crate's only unsafe code: taking ownership of a file descriptor that
//! the kernel installed in this process through SCM_RIGHTS, making a raw
//! syscall in a forked child (the checker's probes), and placing descriptors
//! at fixed numbers in a spawned runtime (`--preserve-fds`).
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::libc;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

/// Wraps a descriptor received in an SCM_RIGHTS control message.
pub fn adopt_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: recvmsg(2) has just installed `fd` in our table for this
    // message only; no other owner exists, so it is adopted exactly once here.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Makes syscall `nr` with six raw argument registers in a forked child,
/// which exits with the errno the call got (0 if it returned without error,
/// so errnos must stay below 256), and returns how the child ended. A seccomp
/// action that kills therefore kills only the child.
pub fn syscall_in_child(nr: i64, args: [u64; 6]) -> nix::Result<WaitStatus> {
    // SAFETY: between fork and _exit the child runs only syscall(2), a read
    // of its own errno and _exit(2), all async-signal-safe, so it neither
    // takes a lock another thread may hold nor allocates.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            // SAFETY: the arguments are plain integers in registers; the
            // probed syscalls are ones whose effects stay in this child.
            let ret = unsafe {
                libc::syscall(
                    nr as libc::c_long,
                    args[0],
                    args[1],
                    args[2],
                    args[3],
                    args[4],
                    args[5],
                )
            };
            let code = if ret == -1 { Errno::last_raw() } else { 0 };
            // SAFETY: _exit ends the child without running the parent's
            // atexit handlers or flushing its copied stdio buffers.
            unsafe { libc::_exit(code & 0xff) }
        }
        ForkResult::Parent { child } => waitpid(child, None),
    }
}

/// Most descriptors [`place_fds`] places in one child.
pub const MAX_PLACED_FDS: usize = 8;

/// Makes `cmd`'s child get `fds[i]` as descriptor `3 + i` (inheritable),
/// as `--preserve-fds` expects. The descriptors move into the hook, so they
/// stay open until the child has them.
pub fn place_fds(cmd: &mut Command, fds: Vec<OwnedFd>) {
    assert!(fds.len() <= MAX_PLACED_FDS, "too many fds to place");
    let count = fds.len() as RawFd;
    let hook = move || -> std::io::Result<()> {
        // First move every source above the target range (CLOEXEC copies,
        // gone at exec), so a source numbered 3..3+count is not overwritten
        // before it has been placed.
        let mut high = [0 as RawFd; MAX_PLACED_FDS];
        for (slot, fd) in high.iter_mut().zip(&fds) {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor this closure
            // owns; async-signal-safe and allocation-free, as the child
            // between fork and exec requires.
            *slot = Errno::result(unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3 + count)
            })?;
        }
        for (i, src) in high.iter().take(fds.len()).enumerate() {
            // SAFETY: dup2 onto a number in the child's own table; the new
            // descriptor has no CLOEXEC flag, so exec keeps it.
            Errno::result(unsafe { libc::dup2(*src, 3 + i as RawFd) })?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec and only calls
    // fcntl and dup2, which are async-signal-safe and do not allocate.
    unsafe {
        cmd.pre_exec(hook);
    }
}
