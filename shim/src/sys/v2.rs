//! The containerd face's own `unsafe`: the inherited listening socket, the
//! pty window size and glibc's malloc arenas.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Takes ownership of the listening socket `start` passed to the daemon.
///
/// Callers pass the number named by the environment variable `start` set,
/// once, before any other code could open or close that number.
pub fn take_inherited_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: `start` cleared FD_CLOEXEC on this one fd and exec'd us; the
    // daemon reads its number once at startup, before it opens anything, so
    // no other owner of the number exists in this process.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Sets a terminal's window size (TIOCSWINSZ).
pub fn set_winsize(tty: &impl AsRawFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the fd is borrowed for the call, so it stays open; `ws` is a
    // live winsize the kernel only reads for TIOCSWINSZ.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Caps glibc's malloc arenas. Every thread that allocates would otherwise
/// get an arena of its own (up to 8 per core), each a separate heap whose
/// touched pages count in RSS; the shim's threads allocate little, so one
/// shared arena costs no contention worth measuring.
pub fn limit_malloc_arenas(n: i32) {
    // SAFETY: mallopt only changes allocator tuning; M_ARENA_MAX is valid
    // at any time and affects arenas created afterwards.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
}
