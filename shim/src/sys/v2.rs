//! The containerd face's own `unsafe`: the inherited listening socket and
//! glibc's malloc arenas.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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
