//! `berth features`: runc's JSON shape, listing only what berth really does.

use serde_json::{json, Value};

pub fn features() -> Value {
    // Only what this kernel knows: CAP_CHECKPOINT_RESTORE and friends are
    // not there on older kernels, and a client must not ask for them.
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .unwrap_or(40);
    let caps: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut options: Vec<&str> = crate::rootfs::options::known_options()
        .filter(|o| !matches!(*o, "idmap" | "ridmap"))
        .collect();
    options.sort_unstable();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": seccomp(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runc.version": env!("CARGO_PKG_VERSION"),
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// What berth's filters can express, and which flags this kernel takes.
fn seccomp() -> Value {
    use crate::seccomp::filter as f;
    use crate::sys::seccomp::{action_available, flag_supported};
    let actions: Vec<&str> = [
        ("SCMP_ACT_ALLOW", f::RET_ALLOW),
        ("SCMP_ACT_ERRNO", f::RET_ERRNO),
        ("SCMP_ACT_KILL", f::RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", f::RET_KILL_PROCESS),
        ("SCMP_ACT_KILL_THREAD", f::RET_KILL_THREAD),
        ("SCMP_ACT_LOG", f::RET_LOG),
        ("SCMP_ACT_NOTIFY", f::RET_USER_NOTIF),
        ("SCMP_ACT_TRACE", f::RET_TRACE),
        ("SCMP_ACT_TRAP", f::RET_TRAP),
    ]
    .into_iter()
    .filter(|(_, ret)| action_available(*ret))
    .map(|(name, _)| name)
    .collect();
    let flags = [
        ("SECCOMP_FILTER_FLAG_LOG", crate::seccomp::FLAG_LOG),
        (
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            crate::seccomp::FLAG_SPEC_ALLOW,
        ),
        ("SECCOMP_FILTER_FLAG_TSYNC", crate::seccomp::FLAG_TSYNC),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            // Only valid with a listener.
            crate::seccomp::FLAG_WAIT_KILLABLE_RECV | crate::seccomp::FLAG_NEW_LISTENER,
        ),
    ];
    let known: Vec<&str> = flags.iter().map(|(n, _)| *n).collect();
    let supported: Vec<&str> = flags
        .iter()
        .filter(|(_, bit)| flag_supported(*bit))
        .map(|(n, _)| *n)
        .collect();
    json!({
        "enabled": true,
        "actions": actions,
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
            "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
        "knownFlags": known,
        "supportedFlags": supported
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_runc() {
        let f = features();
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        assert!(f["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rbind"));
        assert!(f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
        assert_eq!(f["linux"]["cgroup"]["v1"], true);
        let seccomp = &f["linux"]["seccomp"];
        assert_eq!(seccomp["enabled"], true);
        let supported = seccomp["supportedFlags"].as_array().unwrap();
        assert!(supported.iter().any(|x| x == "SECCOMP_FILTER_FLAG_TSYNC"));
        assert!(seccomp["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "SCMP_ACT_NOTIFY"));
    }
}
