//! config-linux.md seccomp. Each case installs a profile and lists probes
//! (see `crate::probe`): raw syscalls the checker makes in a forked child,
//! or i386 programs it runs, each with the outcome the profile must produce.
//! Probes use syscalls that the checker never makes on its own and that are
//! harmless to run (getppid, getpgrp, getsid, getpgid), so a rule changes
//! nothing but the probe; getppid and getpgrp ignore their arguments, so
//! seccomp sees whatever raw registers a probe passes. (A runtime may make
//! them before exec, while a filter installed without noNewPrivileges is
//! already in place; see `actions::without_nnp`.)
//!
//! - [`actions`]: every action, errnoRet and defaultErrnoRet, a default
//!   ERRNO profile that allows what the checker needs, flags, and a filter
//!   without noNewPrivileges;
//! - [`args`]: every operator on 64-bit values, and how conditions combine;
//! - [`arch`]: 32-bit i386 syscalls with and without `SCMP_ARCH_X86`.

mod actions;
mod arch;
mod args;

use nix::libc;
use serde_json::{json, Value};

use super::Case;
use crate::driver::spec;
use crate::probe::{self, Probe, ANN_PROBES};

pub const GETPPID: i64 = libc::SYS_getppid;
pub const GETPGRP: i64 = libc::SYS_getpgrp;
pub const GETSID: i64 = libc::SYS_getsid;
pub const GETPGID: i64 = libc::SYS_getpgid;

pub fn cases() -> Vec<Case> {
    [actions::cases(), args::cases(), arch::cases()]
        .into_iter()
        .flatten()
        .collect()
}

/// Installs `profile` and hands the checker `probes`. Probes that end in
/// SIGSYS would dump core (the host's core_pattern may write into the
/// rootfs), so the core limit is zero in every seccomp case.
pub fn install(config: &mut Value, profile: Value, probes: &[Probe]) {
    config["linux"]["seccomp"] = profile;
    spec::annotate(config, ANN_PROBES, &probe::encode(probes));
    spec::push(
        &mut config["process"]["rlimits"],
        json!({"type": "RLIMIT_CORE", "soft": 0, "hard": 0}),
    );
}

/// A profile that lets everything run except what `rules` say.
pub fn allow_but(rules: Value) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules
    })
}

/// Probe arguments: `arg0` and the rest zero.
pub fn arg0(a0: u64) -> [u64; 6] {
    [a0, 0, 0, 0, 0, 0]
}
