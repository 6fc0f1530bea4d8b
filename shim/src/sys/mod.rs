//! The only place in the shim with `unsafe`: thin wrappers whose callers
//! keep the invariant each SAFETY comment names.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Takes ownership of an fd the kernel just gave us (SCM_RIGHTS).
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the fd was installed in our table by recvmsg a moment ago and
    // nothing else in the process knows its number, so we are its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// fork(2) for a process that has not started any threads.
///
/// # Errors
/// As fork(2).
pub fn fork_single_threaded() -> nix::Result<nix::unistd::ForkResult> {
    // SAFETY: callers fork only before starting threads (at startup, to
    // detach), so the child inherits no lock held by another thread.
    unsafe { nix::unistd::fork() }
}
pub mod monitor;
pub mod v2;

/// TIOCSWINSZ on a pty master; the kernel then sends SIGWINCH to the
/// terminal's foreground process group.
///
/// # Errors
/// As ioctl(2) (ENOTTY when `fd` is not a terminal).
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is a live borrowed fd and `ws` a valid winsize that
    // TIOCSWINSZ only reads for the duration of the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    Errno::result(r).map(drop)
}
