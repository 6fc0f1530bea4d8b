//! Checks on linux.seccomp: with a profile, the filter is in place
//! (`Seccomp: 2` and at least one filter in /proc/self/status); and every
//! probe the driver listed in the probes annotation ends as it expects
//! (see `crate::probe`). What a profile does is only known from probes: the
//! driver, not the checker, knows which outcome each rule must produce.

use std::os::unix::process::ExitStatusExt;

use nix::sys::wait::WaitStatus;

use super::{Check, Observer};
use crate::probe::{self, Outcome, Probe, Target, ANN_PROBES};
use crate::sys;

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    if obs.spec.linux.seccomp.is_some() {
        status_checks(obs, out);
    }
    let Some(text) = obs.annotation(ANN_PROBES) else {
        return;
    };
    match probe::decode(text) {
        Ok(probes) => out.extend(probes.iter().map(run)),
        Err(e) => out.push(Check::error(ANN_PROBES, "a JSON list of probes", e)),
    }
}

fn status_checks(obs: &Observer, out: &mut Vec<Check>) {
    let field = |k: &str| obs.status.get(k).cloned().unwrap_or_default();
    out.push(Check::eq(
        "linux.seccomp.status",
        "2".to_string(),
        field("Seccomp"),
    ));
    let filters = field("Seccomp_filters");
    out.push(Check::new(
        "linux.seccomp.filters",
        filters.parse::<u32>().is_ok_and(|n| n >= 1),
        ">= 1",
        filters,
    ));
}

fn run(p: &Probe) -> Check {
    let name = format!("probe[{}]", p.label);
    let got = match &p.target {
        Target::Syscall { nr, args } => sys::syscall_in_child(*nr, *args)
            .map_err(|e| e.to_string())
            .and_then(from_wait),
        Target::Exec { path } => std::process::Command::new(path)
            .status()
            .map_err(|e| format!("running {path}: {e}"))
            .and_then(|s| match (s.code(), s.signal()) {
                (Some(code), _) => Ok(Outcome::from_exit(code)),
                (None, Some(sig)) => Ok(Outcome::Signal(sig)),
                _ => Err(format!("{path} ended as {s}")),
            }),
    };
    match got {
        Ok(got) => Check::new(name, got == p.expect, p.expect.describe(), got.describe()),
        Err(e) => Check::error(name, p.expect.describe(), e),
    }
}

fn from_wait(status: WaitStatus) -> Result<Outcome, String> {
    match status {
        WaitStatus::Exited(_, code) => Ok(Outcome::from_exit(code)),
        WaitStatus::Signaled(_, sig, _) => Ok(Outcome::Signal(sig as i32)),
        other => Err(format!("probe child ended as {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;
    use nix::libc;

    /// Probes run for real in this (test) process, without a filter: the
    /// expectations below are what an unfiltered kernel answers, and a probe
    /// expecting anything else must fail.
    #[test]
    fn probes_report_what_the_kernel_did() {
        let ok = run(&Probe::syscall(
            "getppid",
            libc::SYS_getppid,
            [0; 6],
            Outcome::Ok,
        ));
        assert!(ok.ok, "{ok:?}");
        let einval = run(&Probe::syscall(
            "bad-whence",
            libc::SYS_lseek,
            [0, 0, 77, 0, 0, 0],
            Outcome::errno(Errno::EINVAL),
        ));
        assert!(einval.ok, "{einval:?}");
        let wrong = run(&Probe::syscall(
            "getppid-is-not-filtered",
            libc::SYS_getppid,
            [0; 6],
            Outcome::errno(Errno::EPERM),
        ));
        assert!(!wrong.ok);
        assert_eq!(wrong.actual, "ok");
    }

    #[test]
    fn exit_codes_and_signals_of_programs_are_outcomes() {
        let exited = run(&Probe::syscall(
            "exit-group-3",
            libc::SYS_exit_group,
            [3, 0, 0, 0, 0, 0],
            Outcome::Errno(3),
        ));
        assert!(exited.ok, "{exited:?}");
        let dir = std::env::temp_dir().join(format!("berth-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // SIGTERM, not SIGSYS: a signal that dumps core would leave a core
        // file in the test's working directory.
        let script = dir.join("sigterm.sh");
        std::fs::write(&script, "#!/bin/sh\nkill -TERM $$\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let killed = run(&Probe::exec(
            "sigterm",
            &script.display().to_string(),
            Outcome::Signal(nix::sys::signal::Signal::SIGTERM as i32),
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(killed.ok, "{killed:?}");
    }
}
