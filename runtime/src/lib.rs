//! berth: an OCI runtime, a drop-in for runc.
//!
//! The binary (`main.rs`) parses arguments and maps errors to exit codes;
//! everything else lives here, one module per concern: `spec` (load,
//! validate, plan), `state`, `process` (clone to exec), `rootfs`,
//! `namespaces`, `cgroups`, `devices`, `caps`, `rlimits`, `hooks`,
//! `console`, `seccomp`, and `sys`, the only module with `unsafe`.

pub mod caps;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod console;
pub mod devices;
pub mod features;
pub mod hooks;
pub mod logging;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod state;
pub mod sys;
pub mod userns;
