//! The crate's only unsafe code: taking ownership of a file descriptor that
//! the kernel installed in this process through SCM_RIGHTS.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Wraps a descriptor received in an SCM_RIGHTS control message.
pub fn adopt_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: recvmsg(2) has just installed `fd` in our table for this
    // message only; no other owner exists, so it is adopted exactly once here.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
