//! Known deviations of specific runtimes from the spec, as data. A case listed
//! here for the runtime under test is reported as XFAIL instead of FAIL (and
//! counted as skipped); if it passes, the report says the entry is stale.

pub struct Xfail {
    /// Runtime name as its `--version` prints it (`runc`, `crun`, `berth`).
    pub runtime: &'static str,
    /// Version prefix the entry applies to (`1.1.` matches 1.1.5+ds1).
    pub version_prefix: &'static str,
    pub case: &'static str,
    pub reason: &'static str,
}

pub const XFAILS: &[Xfail] = &[
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "hooks/poststart-runs-in-start",
        reason: "runc 1.1 runs poststart hooks during create, before the user process is started (opencontainers/runc#4347)",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "mounts/rootfs-propagation-shared",
        reason: "runc 1.1 leaves the container's / private when rootfsPropagation is shared (opencontainers/runc#1755)",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "uts/domainname",
        reason: "runc 1.1 ignores the domainname field (it never calls setdomainname)",
    },
    Xfail {
        runtime: "crun",
        version_prefix: "1.8",
        case: "hooks/create-runs-create-time-hooks-in-order",
        reason: "crun 1.8 passes pid 0 to createContainer hooks instead of the pid the container sees",
    },
    Xfail {
        runtime: "crun",
        version_prefix: "1.8",
        case: "hooks/startContainer-runs-before-user-process",
        reason: "crun 1.8 passes no bundle (\"/\") and pid 0 in the state given to startContainer hooks",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "namespaces/time-offsets",
        reason: "runc 1.1 does not support time namespaces (added in 1.2)",
    },
];

/// The reason `case` is expected to fail on this runtime, if it is.
pub fn lookup(runtime: &str, version: &str, case: &str) -> Option<&'static str> {
    XFAILS
        .iter()
        .find(|x| x.runtime == runtime && version.starts_with(x.version_prefix) && x.case == case)
        .map(|x| x.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_matches_name_version_prefix_and_case() {
        assert!(lookup("runc", "1.1.5+ds1", "namespaces/time-offsets").is_some());
        assert!(lookup("runc", "1.2.0", "namespaces/time-offsets").is_none());
        assert!(lookup("crun", "1.1.5", "namespaces/time-offsets").is_none());
        assert!(lookup("runc", "1.1.5", "lifecycle/create-start-exit-delete").is_none());
    }
}
