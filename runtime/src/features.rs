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
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
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
    }
}
