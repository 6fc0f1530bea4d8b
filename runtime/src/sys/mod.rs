//! The only module allowed to contain `unsafe`: thin, safe wrappers over the
//! syscalls that nix does not cover (clone3, openat2, mount_setattr,
//! close_range, pidfds, a few ioctls), plus the [`Kernel`] seam through which
//! mount, pivot and namespace code reaches the kernel.
//!
//! Every wrapper returns `std::io::Result` with the OS error intact; callers
//! attach the operation and path in their own error enums.
#![allow(unsafe_code)]

pub mod bpf;
pub mod clone;
pub mod fs;
pub mod kernel;
pub mod seccomp;
pub mod tty;

pub use kernel::{Kernel, RealKernel};
