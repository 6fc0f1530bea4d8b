//! Seccomp architectures, probed with hand-made i386 programs (see
//! `driver::elf32`) that make one `int 0x80` syscall and exit with its
//! errno. With `SCMP_ARCH_X86` listed, the profile's rules apply to 32-bit
//! syscalls by their i386 numbers; without it, any 32-bit syscall is a
//! foreign architecture and kills the process (libseccomp's default
//! bad-architecture action, which berth shares).

use std::os::unix::process::ExitStatusExt;

use nix::errno::Errno;
use serde_json::{json, Value};

use super::{install, GETPPID};
use crate::cases::Case;
use crate::driver::bundle;
use crate::driver::ctx::{CaseResult, Ctx, Verdict};
use crate::driver::elf32::{self, I386_GETPGRP, I386_GETPPID};
use crate::probe::{Outcome, Probe};

const PROBE_GETPPID: &str = "/conformance/i386-getppid";
const PROBE_GETPGRP: &str = "/conformance/i386-getpgrp";

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker_with_setup("seccomp/arch-x86-listed-filters-i386", listed, write_probes),
        Case::checker_with_setup(
            "seccomp/arch-x86-unlisted-kills-i386",
            unlisted,
            write_probes,
        ),
    ]
}

fn profile(architectures: Value) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::EREMOTE as i32}]
    })
}

fn listed(config: &mut Value) {
    install(
        config,
        profile(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])),
        &[
            Probe::exec(
                "i386 getppid",
                PROBE_GETPPID,
                Outcome::errno(Errno::EREMOTE),
            ),
            Probe::exec("i386 getpgrp", PROBE_GETPGRP, Outcome::Ok),
            Probe::syscall(
                "x86_64 getppid",
                GETPPID,
                [0; 6],
                Outcome::errno(Errno::EREMOTE),
            ),
        ],
    );
}

fn unlisted(config: &mut Value) {
    install(
        config,
        profile(json!(["SCMP_ARCH_X86_64"])),
        &[
            Probe::exec("i386 getpgrp", PROBE_GETPGRP, Outcome::SIGSYS),
            Probe::syscall(
                "x86_64 getppid",
                GETPPID,
                [0; 6],
                Outcome::errno(Errno::EREMOTE),
            ),
        ],
    );
}

/// Writes both probes into the rootfs, after running one on the host: a
/// kernel without IA32 emulation cannot say anything about these rules.
fn write_probes(ctx: &mut Ctx) -> CaseResult {
    if !cfg!(target_arch = "x86_64") {
        return Err(Verdict::Skip("i386 probes need an x86_64 host".into()));
    }
    let on_host = ctx.bundle.dir.join("i386-getpgrp");
    write(&on_host, I386_GETPGRP)?;
    match std::process::Command::new(&on_host).status() {
        Ok(s) if s.code() == Some(0) => {}
        Ok(s) => {
            return Err(Verdict::Skip(format!(
                "the i386 probe did not run cleanly on the host ({s}, signal {:?})",
                s.signal()
            )))
        }
        Err(e) => {
            return Err(Verdict::Skip(format!(
                "this host does not run i386 binaries: {e}"
            )))
        }
    }
    write(&ctx.bundle.in_rootfs(PROBE_GETPPID), I386_GETPPID)?;
    write(&ctx.bundle.in_rootfs(PROBE_GETPGRP), I386_GETPGRP)
}

fn write(path: &std::path::Path, nr: u32) -> CaseResult {
    std::fs::write(path, elf32::syscall_probe(nr))
        .map_err(|e| Verdict::Fail(format!("writing {}: {e}", path.display())))?;
    Ok(bundle::chmod(path, 0o755)?)
}
