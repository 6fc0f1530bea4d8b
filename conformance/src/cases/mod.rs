//! The conformance cases, one file per area of the spec. A case is data: a
//! name, a pure config mutation, an optional host-side setup (which may also
//! edit the config with host facts), and what to run — the checker, whose
//! config-driven checks must all pass, or a host-side function observing the
//! runtime's CLI (`state` JSON, hook logs, exit codes).

pub mod cgroups;
pub mod devices;
pub mod escape;
pub mod hooks;
pub mod lifecycle;
pub mod lsm;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod seccomp;
pub mod system;
pub mod xfail;

use serde_json::Value;

use crate::driver::ctx::{CaseResult, Ctx};

pub struct Case {
    /// `area/what`, unique; `--filter` and the XFAIL table match on it.
    pub name: &'static str,
    pub mutate: fn(&mut Value),
    pub setup: Option<fn(&mut Ctx) -> CaseResult>,
    pub run: Run,
}

pub enum Run {
    /// Run the checker as the container process; every check must pass.
    Checker,
    /// Drive the runtime from the host and assert on what it shows.
    Host(fn(&mut Ctx) -> CaseResult),
    /// A linux.resources case: the plan (resources, the cgroup files the
    /// checker must see, an optional `update`) is computed for this host's
    /// cgroup version, then run by [`cgroups::run`].
    Cgroup(cgroups::PlanFn),
}

/// A config mutation that changes nothing (the default config is the case).
pub fn unchanged(_: &mut Value) {}

impl Case {
    pub const fn checker(name: &'static str, mutate: fn(&mut Value)) -> Case {
        Case {
            name,
            mutate,
            setup: None,
            run: Run::Checker,
        }
    }

    pub const fn checker_with_setup(
        name: &'static str,
        mutate: fn(&mut Value),
        setup: fn(&mut Ctx) -> CaseResult,
    ) -> Case {
        Case {
            name,
            mutate,
            setup: Some(setup),
            run: Run::Checker,
        }
    }

    pub const fn cgroup(name: &'static str, plan: cgroups::PlanFn) -> Case {
        Case {
            name,
            mutate: unchanged,
            setup: None,
            run: Run::Cgroup(plan),
        }
    }

    pub const fn host(
        name: &'static str,
        mutate: fn(&mut Value),
        run: fn(&mut Ctx) -> CaseResult,
    ) -> Case {
        Case {
            name,
            mutate,
            setup: None,
            run: Run::Host(run),
        }
    }
}

/// Every case, in report order.
pub fn all() -> Vec<Case> {
    [
        lifecycle::cases(),
        hooks::cases(),
        namespaces::cases(),
        mounts::cases(),
        devices::cases(),
        process::cases(),
        seccomp::cases(),
        lsm::cases(),
        escape::cases(),
        system::cases(),
        cgroups::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_and_area_prefixed() {
        let cases = all();
        let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
        assert!(names.iter().all(|n| n.contains('/')));
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    /// Mutations run outside the driver's panic guard, so each must run
    /// cleanly and leave a config (and probes) the checker can read.
    #[test]
    fn every_case_config_parses_as_spec() {
        for case in all() {
            let mut config = crate::driver::spec::default_config();
            (case.mutate)(&mut config);
            let spec = serde_json::from_value::<crate::config::Spec>(config)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            if let Some(probes) = spec.annotations.get(crate::probe::ANN_PROBES) {
                let decoded = crate::probe::decode(probes);
                assert!(decoded.is_ok_and(|p| !p.is_empty()), "{}", case.name);
            }
        }
    }

    #[test]
    fn every_xfail_names_a_case() {
        let names: Vec<&str> = all().iter().map(|c| c.name).collect();
        for x in xfail::XFAILS {
            assert!(
                names.contains(&x.case),
                "XFAIL entry for unknown case {}",
                x.case
            );
        }
    }
}
