//! The default config every case starts from, shaped like `runc spec`'s output
//! but running the checker, plus small helpers cases use to edit configs.
//!
//! Configs are `serde_json::Value` on the driver side so cases can add fields
//! the typed structs do not know (the unknown-fields case needs exactly that).

use serde_json::{json, Value};

use crate::config::CHECKER_IN_ROOTFS;

/// The capability set of `runc spec` (no inheritable or ambient: runc dropped
/// them from its default after CVE-2022-29162).
pub const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

pub fn default_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [CHECKER_IN_ROOTFS],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth",
        "mounts": default_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

fn default_mounts() -> Value {
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ])
}

/// Sets `process.args`.
pub fn set_args(config: &mut Value, args: &[&str]) {
    config["process"]["args"] = json!(args);
}

/// Runs a busybox shell script as the container process.
pub fn set_script(config: &mut Value, script: &str) {
    set_args(config, &["/bin/busybox", "sh", "-c", script]);
}

/// Appends to an array field, creating it if missing.
pub fn push(value: &mut Value, item: Value) {
    if !value.is_array() {
        *value = json!([]);
    }
    if let Some(a) = value.as_array_mut() {
        a.push(item);
    }
}

/// Adds a namespace entry, replacing any existing one of that type.
pub fn set_namespace(config: &mut Value, kind: &str, path: Option<&str>) {
    remove_namespace(config, kind);
    let entry = match path {
        Some(p) => json!({"type": kind, "path": p}),
        None => json!({"type": kind}),
    };
    push(&mut config["linux"]["namespaces"], entry);
}

pub fn remove_namespace(config: &mut Value, kind: &str) {
    if let Some(a) = config["linux"]["namespaces"].as_array_mut() {
        a.retain(|n| n["type"] != kind);
    }
}

/// Sets an annotation.
pub fn annotate(config: &mut Value, key: &str, value: &str) {
    if !config["annotations"].is_object() {
        config["annotations"] = json!({});
    }
    config["annotations"][key] = json!(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Spec;

    #[test]
    fn default_config_parses_as_spec() {
        let spec: Spec = serde_json::from_value(default_config()).unwrap();
        assert_eq!(spec.process.args, vec![CHECKER_IN_ROOTFS]);
        assert_eq!(spec.linux.namespaces.len(), 5);
        assert!(spec.mounts.iter().any(|m| m.destination == "/dev/mqueue"));
    }

    #[test]
    fn namespace_edits_replace_by_type() {
        let mut c = default_config();
        set_namespace(&mut c, "network", Some("/run/netns/x"));
        let spec: Spec = serde_json::from_value(c.clone()).unwrap();
        let net: Vec<_> = spec
            .linux
            .namespaces
            .iter()
            .filter(|n| n.kind == "network")
            .collect();
        assert_eq!(net.len(), 1);
        assert_eq!(net[0].path.as_deref(), Some("/run/netns/x"));
        remove_namespace(&mut c, "pid");
        annotate(&mut c, "a", "b");
        assert_eq!(c["annotations"]["a"], "b");
        assert!(!c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "pid"));
    }
}
