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
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "seccomp/flags-log-spec-allow-tsync",
        reason: "runc 1.1 refuses any linux.seccomp.flags (\"seccomp flags are not yet supported by runc\")",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "seccomp/arg-eq-rules-with-different-errnos",
        reason: "runc 1.1 with libseccomp 2.5 cannot add a second conditional rule with another action for the same syscall and argument (\"error adding seccomp rule for syscall getppid: file exists\")",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "seccomp/arg-lt-and-le-rules-with-different-errnos",
        reason: "runc 1.1 with libseccomp 2.5 merges LT and LE conditions on the same value from rules with different actions wrongly: the LT rule matches an equal argument",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "lsm/selinux-label-without-selinux-is-ignored",
        reason: "runc 1.1 refuses process.selinuxLabel on a host without SELinux (\"selinux label is specified in config, but selinux is disabled or not supported\"); crun and berth ignore it",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "lsm/mount-label-without-selinux-is-ignored",
        reason: "runc 1.1 adds linux.mountLabel as a context= option to its mounts even without SELinux, and the kernel refuses the /dev tmpfs (EINVAL)",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "cgroups/memory-kernel-tcp",
        reason: "runc 1.1 no longer carries memory.kernelTCP into its cgroup config (there is no KernelMemoryTCP field in 1.1), so memory.kmem.tcp.limit_in_bytes stays unlimited",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "cgroups/cpu-burst",
        reason: "runc 1.1 ignores cpu.burst: CFS bandwidth burst support came in runc 1.2 (opencontainers/runc#3749, #3145)",
    },
    Xfail {
        runtime: "runc",
        version_prefix: "1.1.",
        case: "cgroups/cpu-idle",
        reason: "runc 1.1 ignores cpu.idle: SCHED_IDLE support for cgroupfs came in runc 1.2 (opencontainers/runc#3377)",
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
