//! The only place in the shim with `unsafe`: thin wrappers whose callers
//! keep the invariant each SAFETY comment names.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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
