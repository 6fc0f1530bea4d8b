//! The in-container checker: compares what this process sees with the
//! `config.json` it was started from and emits one [`Check`] per comparison.
//!
//! Every check is driven by the config (plus the `conformance.berth/*`
//! annotations carrying host facts), so one checker binary serves every case.
//! The areas live in submodules; this module holds the shared [`Check`] type and
//! the [`Observer`] with the procfs snapshots the areas share.

pub mod cgroups;
mod devices;
mod fs;
mod isolation;
mod process;
mod seccomp;
mod system;

use std::fmt::Display;
use std::io;

use serde::Serialize;
use serde_json::Value;

use crate::config::Spec;
use crate::procfs::{self, MountInfo};

/// One comparison, printed as one JSON line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub expected: Value,
    pub actual: Value,
}

impl Check {
    pub fn new(
        name: impl Into<String>,
        ok: bool,
        expected: impl Serialize,
        actual: impl Serialize,
    ) -> Check {
        Check {
            name: name.into(),
            ok,
            expected: to_value(expected),
            actual: to_value(actual),
        }
    }

    /// Passes iff `expected == actual`.
    pub fn eq<T: Serialize + PartialEq>(name: impl Into<String>, expected: T, actual: T) -> Check {
        let ok = expected == actual;
        Check::new(name, ok, expected, actual)
    }

    /// A check that could not observe anything: always a failure.
    pub fn error(name: impl Into<String>, expected: impl Serialize, err: impl Display) -> Check {
        Check::new(name, false, expected, format!("error: {err}"))
    }
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| Value::String(format!("unserializable: {e}")))
}

/// Snapshots of this process's view, taken once before the checks run.
pub struct Observer {
    pub spec: Spec,
    pub mounts: Result<Vec<MountInfo>, String>,
    pub status: std::collections::BTreeMap<String, String>,
    pub euid: u32,
    pub ruid: u32,
}

impl Observer {
    pub fn new(spec: Spec) -> Observer {
        let mounts = read("/proc/self/mountinfo")
            .map_err(|e| e.to_string())
            .and_then(|t| procfs::parse_mountinfo(&t).map_err(|e| e.to_string()));
        let status = read("/proc/self/status")
            .map(|t| procfs::parse_status(&t))
            .unwrap_or_default();
        Observer {
            spec,
            mounts,
            status,
            euid: nix::unistd::geteuid().as_raw(),
            ruid: nix::unistd::getuid().as_raw(),
        }
    }

    /// Runs every area's checks.
    pub fn run_all(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        process::checks(self, &mut checks);
        isolation::checks(self, &mut checks);
        system::checks(self, &mut checks);
        fs::checks(self, &mut checks);
        devices::checks(self, &mut checks);
        seccomp::checks(self, &mut checks);
        cgroups::checks(self, &mut checks);
        checks
    }

    pub fn mountinfo(&self) -> Result<&[MountInfo], &str> {
        self.mounts.as_deref().map_err(String::as_str)
    }

    /// An annotation's value, if the driver set it.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.spec.annotations.get(key).map(String::as_str)
    }
}

pub fn read(path: &str) -> io::Result<String> {
    std::fs::read_to_string(path)
}

/// A path as this process resolves it: symlinks in a mount destination or
/// cwd are followed inside the container, which is where the runtime must
/// have resolved them too. Unresolvable paths are returned as they are.
pub fn resolved(path: &str) -> String {
    std::fs::canonicalize(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// An errno as a stable short name for the JSON output (`EROFS`, `ok`).
pub fn errno_name(result: &io::Result<()>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(e) => match e.raw_os_error() {
            Some(n) => format!("{:?}", nix::errno::Errno::from_raw(n)),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_check_records_both_sides() {
        let c = Check::eq("x", 1, 2);
        assert!(!c.ok);
        assert_eq!(c.expected, Value::from(1));
        assert_eq!(c.actual, Value::from(2));
        assert!(Check::eq("y", "a", "a").ok);
    }

    /// Runs the real checks in this (test) process against configs that do not
    /// describe it: each must be reported as failed.
    #[test]
    fn checks_fail_when_the_process_does_not_match_its_config() {
        let mut spec = Spec::default();
        spec.process.args = vec!["/not/this/binary".into()];
        spec.process.env = vec!["BERTH_SURELY_UNSET_VAR=1".into()];
        spec.process.cwd = "/nonexistent-cwd".into();
        spec.process.oom_score_adj = Some(-999);
        spec.hostname = Some("not-this-host-name".into());
        spec.mounts = vec![crate::config::Mount {
            destination: "/nonexistent-mount".into(),
            ..Default::default()
        }];
        spec.linux.masked_paths = vec!["/proc/self/status".into()];
        for kind in ["pid", "mount"] {
            spec.linux.namespaces.push(crate::config::Namespace {
                kind: kind.into(),
                path: None,
            });
        }
        spec.linux.seccomp = Some(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        spec.annotations
            .insert(crate::config::ANN_PRESERVED_FDS.into(), "1".into());
        let unfiltered = crate::probe::Probe::syscall(
            "getppid",
            nix::libc::SYS_getppid,
            [0; 6],
            crate::probe::Outcome::errno(nix::errno::Errno::EPERM),
        );
        spec.annotations.insert(
            crate::probe::ANN_PROBES.into(),
            crate::probe::encode(&[unfiltered]),
        );
        let unconfined = read("/proc/self/status").is_ok_and(|s| {
            procfs::parse_status(&s).get("Seccomp").map(String::as_str) == Some("0")
        });
        let checks = Observer::new(spec).run_all();
        let mut must_fail = vec![
            "process.args",
            "process.env[BERTH_SURELY_UNSET_VAR]",
            "process.cwd",
            "process.cwd.inode",
            "process.oomScoreAdj",
            "hostname",
            "mounts[/nonexistent-mount]",
            "linux.maskedPaths[/proc/self/status]",
            "fds.preserved[3]",
            "pid-namespace.view",
            "mount-namespace.view",
            "dev.only-configured-devices",
            "probe[getppid]",
        ];
        if unconfined {
            must_fail.push("linux.seccomp.status");
        }
        for name in must_fail {
            let c = checks
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no check {name}"));
            assert!(!c.ok, "{name} passed: {c:?}");
        }
    }

    #[test]
    fn errno_names_are_symbolic() {
        assert_eq!(
            errno_name(&Err(io::Error::from_raw_os_error(libc_erofs()))),
            "EROFS"
        );
        assert_eq!(errno_name(&Ok(())), "ok");
    }

    fn libc_erofs() -> i32 {
        nix::errno::Errno::EROFS as i32
    }
}
