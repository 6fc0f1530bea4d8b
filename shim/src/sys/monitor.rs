//! The monitor's syscalls that need `unsafe`: closing inherited fds,
//! taking ownership of accepted sockets, setting a pty's window size.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{accept4, SockFlag};

/// Closes every fd from 3 up except `keep`: what the caller left open
/// (without close-on-exec) must not reach the daemon's container.
///
/// # Errors
/// As close_range(2).
pub fn close_fds_except(keep: RawFd) -> nix::Result<()> {
    let close_range = |first: u32, last: u32| -> nix::Result<()> {
        if first > last {
            return Ok(());
        }
        // SAFETY: called by the freshly forked daemon while the only fd any
        // Rust object of this process owns, above stdio, is `keep`; so the
        // fds closed here are strays nothing will use or close again.
        let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        Errno::result(r).map(drop)
    };
    let keep = keep as u32;
    close_range(3, keep.saturating_sub(1))?;
    close_range(keep + 1, u32::MAX)
}

/// accept4 with CLOEXEC|NONBLOCK, the new socket owned.
///
/// # Errors
/// As accept4(2).
pub fn accept(listener: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let fd = accept4(
        listener.as_raw_fd(),
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )?;
    // SAFETY: accept4 just installed `fd` in our table; no other object
    // knows its number, so the OwnedFd is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Gives freed heap pages back to the kernel: the daemon's startup
/// (argument parsing, config.json) leaves garbage that would otherwise
/// count in its RSS for the container's whole life.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no
    // preconditions beyond being called from a process using glibc malloc.
    unsafe {
        libc::malloc_trim(0);
    }
}
