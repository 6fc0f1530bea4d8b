//! The part of an OCI `config.json` that the checker compares against, as typed
//! serde structs, plus the annotation keys the driver uses to hand the checker
//! host facts it cannot see from inside (namespace inodes, expected mounts).
//!
//! Every struct ignores unknown fields and defaults missing ones, because the
//! same checker reads every case's config, including ones with extension fields.
//! The driver itself edits configs as `serde_json::Value` (see `driver::spec`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Annotation: the driver's own namespace inodes, `kind=inode` joined by commas
/// (`net=4026531840,pid=...`), using the names of `/proc/self/ns`.
pub const ANN_HOST_NS: &str = "conformance.berth/host-ns";
/// Annotation: inodes of namespaces the config joins by path, same format.
pub const ANN_NS_PATH_INODES: &str = "conformance.berth/ns-path-inodes";
/// Annotation: comma-separated paths that must be mount points inside.
pub const ANN_EXPECT_MOUNTED: &str = "conformance.berth/expect-mounted";
/// Annotation: comma-separated paths that must not be mount points inside.
pub const ANN_EXPECT_UNMOUNTED: &str = "conformance.berth/expect-unmounted";
/// Annotation: comma-separated directories whose `berth-marker` file must read
/// [`MARKER_CONTENT`] (proves a bind mount shows its source).
pub const ANN_BIND_MARKERS: &str = "conformance.berth/bind-markers";
/// Annotation: how many descriptors the driver passed with `--preserve-fds`
/// (fds 3..3+N, each a file reading [`MARKER_CONTENT`]).
pub const ANN_PRESERVED_FDS: &str = "conformance.berth/preserved-fds";

/// Probe files the driver puts in every bind source (see `driver::bundle`).
pub const MARKER_FILE: &str = "berth-marker";
pub const MARKER_CONTENT: &str = "berth-marker\n";
pub const EXEC_PROBE: &str = "berth-exec";
pub const DEV_PROBE: &str = "berth-null";

/// Where the driver puts the checker and the config inside the rootfs.
pub const CHECKER_IN_ROOTFS: &str = "/conformance/berth-check";
pub const CONFIG_IN_ROOTFS: &str = "/conformance/config.json";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    pub oci_version: String,
    pub process: Process,
    pub root: Root,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    pub linux: Linux,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    pub terminal: bool,
    pub user: User,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub inheritable: Vec<String>,
    pub permitted: Vec<String>,
    pub ambient: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Root {
    pub path: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
}

impl Mount {
    /// A bind mount is named by its options on Linux; `type` may be anything.
    pub fn is_bind(&self) -> bool {
        self.kind.as_deref() == Some("bind")
            || self.options.iter().any(|o| o == "bind" || o == "rbind")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Linux {
    pub namespaces: Vec<Namespace>,
    pub uid_mappings: Vec<IdMapping>,
    pub gid_mappings: Vec<IdMapping>,
    pub devices: Vec<Device>,
    pub sysctl: BTreeMap<String, String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub rootfs_propagation: Option<String>,
    pub time_offsets: BTreeMap<String, TimeOffset>,
    /// Only its presence is compared; what it does is probed (see `probe`).
    pub seccomp: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(default)]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub major: Option<u64>,
    pub minor: Option<u64>,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct TimeOffset {
    pub secs: i64,
    pub nanosecs: u32,
}

/// Maps a config namespace type to its name under `/proc/self/ns`.
pub fn proc_ns_name(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "pid" => "pid",
        "network" => "net",
        "mount" => "mnt",
        "ipc" => "ipc",
        "uts" => "uts",
        "user" => "user",
        "cgroup" => "cgroup",
        "time" => "time",
        _ => return None,
    })
}

/// Parses `kind=value,kind=value` annotation values; malformed items are dropped.
pub fn parse_kv_list(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .filter_map(|item| item.split_once('='))
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Splits a comma-separated path list annotation, skipping empty items.
pub fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_default() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","whatever":{"x":1},
                "process":{"args":["a"],"user":{"uid":5,"gid":6,"additionalGids":[7]},"newField":true},
                "linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":10}]}}"#,
        )
        .unwrap();
        assert_eq!(spec.process.args, vec!["a"]);
        assert_eq!(spec.process.user.additional_gids, vec![7]);
        assert_eq!(spec.linux.uid_mappings[0].host_id, 1000);
        assert!(spec.mounts.is_empty());
        assert!(!spec.root.readonly);
    }

    #[test]
    fn kv_list_parses_and_skips_garbage() {
        let m = parse_kv_list("net=1, pid=2,bad,=3");
        assert_eq!(m.get("net").map(String::as_str), Some("1"));
        assert_eq!(m.get("pid").map(String::as_str), Some("2"));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn bind_is_detected_by_options_or_type() {
        let m = Mount {
            options: vec!["rbind".into()],
            ..Default::default()
        };
        assert!(m.is_bind());
        let t = Mount {
            kind: Some("tmpfs".into()),
            ..Default::default()
        };
        assert!(!t.is_bind());
    }
}
