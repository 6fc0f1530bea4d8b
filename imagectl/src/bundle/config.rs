//! Image config to runtime `config.json`, per image-spec conversion.md.
//!
//! The base is [`DEFAULT_SPEC`], the same defaults as `runc spec` (kept as
//! data in `default_spec.json`: namespaces, mounts, masked and read-only
//! paths, the three default capabilities, RLIMIT_NOFILE 1024,
//! noNewPrivileges) with `process.terminal` false, `root.path` "rootfs"
//! and `root.readonly` false (as umoci: the rootfs is the container's to
//! write). Onto it:
//! - `process.args` = Entrypoint + Cmd, `process.cwd` = WorkingDir (or
//!   `/`), `process.env` = Env, plus `PATH` (docker's default) and `HOME`
//!   (the user's passwd home) only when Env does not name them
//!   (conversion.md: added entries must not shadow the image's);
//! - `process.user` from [`super::user`];
//! - annotations: os, architecture, variant, os.version, os.features,
//!   author, created, stopSignal, exposedPorts (sorted, comma-separated),
//!   then Labels, which win on conflict (conversion.md "precedence");
//! - Volumes: an empty tmpfs mount at each path, as umoci does, so
//!   application data is not written to the rootfs (conversion.md's
//!   "SHOULD provide mounts"); the paths are also listed, comma-separated,
//!   in the `org.opencontainers.image.volumes` annotation (imagectl's own
//!   key, for tools that want to bind real volumes there instead).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::user::User;

/// `runc spec`'s defaults, as data.
pub const DEFAULT_SPEC: &str = include_str!("default_spec.json");

/// docker's default PATH, added when the image's Env has none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const ANN_OS: &str = "org.opencontainers.image.os";
pub const ANN_ARCH: &str = "org.opencontainers.image.architecture";
pub const ANN_VARIANT: &str = "org.opencontainers.image.variant";
pub const ANN_OS_VERSION: &str = "org.opencontainers.image.os.version";
pub const ANN_OS_FEATURES: &str = "org.opencontainers.image.os.features";
pub const ANN_AUTHOR: &str = "org.opencontainers.image.author";
pub const ANN_CREATED: &str = "org.opencontainers.image.created";
pub const ANN_STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";
pub const ANN_EXPOSED_PORTS: &str = "org.opencontainers.image.exposedPorts";
pub const ANN_VOLUMES: &str = "org.opencontainers.image.volumes";

/// Options of the tmpfs standing in for a volume (umoci's).
const VOLUME_OPTIONS: &[&str] = &["rw", "nosuid", "nodev", "noexec", "relatime"];

/// The parts of an image config the conversion reads. Parsed from the raw
/// bytes (not oci-spec's type) so that fields a producer got slightly
/// wrong elsewhere do not stop an unpack.
#[derive(Debug, Default, Deserialize)]
pub struct ImageDoc {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
    #[serde(default, rename = "os.features")]
    pub os_features: Option<Vec<String>>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ExecConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

impl ImageDoc {
    pub fn parse(raw: &[u8]) -> Result<ImageDoc, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    pub fn exec(&self) -> &ExecConfig {
        static EMPTY: ExecConfig = ExecConfig {
            user: None,
            env: None,
            entrypoint: None,
            cmd: None,
            working_dir: None,
            labels: None,
            exposed_ports: None,
            volumes: None,
            stop_signal: None,
        };
        self.config.as_ref().unwrap_or(&EMPTY)
    }
}

/// Entrypoint + Cmd (conversion.md: Cmd appended to Entrypoint).
pub fn args(c: &ExecConfig) -> Vec<String> {
    let mut a = c.entrypoint.clone().unwrap_or_default();
    a.extend(c.cmd.clone().unwrap_or_default());
    a
}

fn env_name(e: &str) -> &str {
    e.split_once('=').map_or(e, |(n, _)| n)
}

/// The image's Env, then PATH and HOME where it names neither.
pub fn env(c: &ExecConfig, user: &User) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in c.env.iter().flatten() {
        // A later duplicate replaces an earlier one, in place.
        match out.iter_mut().find(|o| env_name(o) == env_name(e)) {
            Some(o) => *o = e.clone(),
            None => out.push(e.clone()),
        }
    }
    let has = |out: &[String], n: &str| out.iter().any(|o| env_name(o) == n);
    if !has(&out, "PATH") {
        out.push(DEFAULT_PATH.into());
    }
    if let Some(h) = &user.home {
        if !has(&out, "HOME") {
            out.push(format!("HOME={h}"));
        }
    }
    out
}

/// Implicit annotations, then Labels on top.
pub fn annotations(doc: &ImageDoc) -> BTreeMap<String, String> {
    let c = doc.exec();
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            a.insert(k.to_string(), v);
        }
    };
    put(ANN_OS, doc.os.clone());
    put(ANN_ARCH, doc.architecture.clone());
    put(ANN_VARIANT, doc.variant.clone());
    put(ANN_OS_VERSION, doc.os_version.clone());
    put(
        ANN_OS_FEATURES,
        doc.os_features.as_ref().map(|f| f.join(",")),
    );
    put(ANN_AUTHOR, doc.author.clone());
    put(ANN_CREATED, doc.created.clone());
    put(ANN_STOP_SIGNAL, c.stop_signal.clone());
    let keys = |m: &Option<BTreeMap<String, Value>>| {
        m.as_ref()
            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
    };
    put(ANN_EXPOSED_PORTS, keys(&c.exposed_ports));
    put(ANN_VOLUMES, keys(&c.volumes));
    for (k, v) in c.labels.iter().flatten() {
        a.insert(k.clone(), v.clone());
    }
    a
}

/// The whole `config.json` for `doc` run as `user`.
pub fn runtime_config(doc: &ImageDoc, user: &User) -> Value {
    let mut spec: Value = serde_json::from_str(DEFAULT_SPEC).expect("default_spec.json is JSON");
    let c = doc.exec();
    let p = &mut spec["process"];
    p["args"] = json!(args(c));
    p["env"] = json!(env(c, user));
    p["cwd"] = json!(c
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into()));
    p["terminal"] = json!(false);
    let mut u = json!({ "uid": user.uid, "gid": user.gid });
    if !user.additional_gids.is_empty() {
        u["additionalGids"] = json!(user.additional_gids);
    }
    p["user"] = u;
    spec["root"] = json!({ "path": "rootfs", "readonly": false });
    if let Some(v) = &c.volumes {
        let mounts = spec["mounts"].as_array_mut().expect("default mounts");
        for dest in v.keys() {
            mounts.push(json!({
                "destination": dest,
                "type": "tmpfs",
                "source": "none",
                "options": VOLUME_OPTIONS,
            }));
        }
    }
    spec["annotations"] = json!(annotations(doc));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> ImageDoc {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn entrypoint_and_cmd_combine() {
        let a = |v: Value| args(doc(json!({ "config": v })).exec());
        assert_eq!(
            a(json!({"Entrypoint": ["/bin/ep", "-x"], "Cmd": ["c1"]})),
            ["/bin/ep", "-x", "c1"]
        );
        assert_eq!(
            a(json!({"Cmd": ["/bin/sh", "-c", "x"]})),
            ["/bin/sh", "-c", "x"]
        );
        assert_eq!(a(json!({"Entrypoint": ["/bin/ep"]})), ["/bin/ep"]);
        assert_eq!(
            a(json!({"Entrypoint": null, "Cmd": null})),
            Vec::<String>::new()
        );
        assert_eq!(args(doc(json!({})).exec()), Vec::<String>::new());
    }

    #[test]
    fn env_keeps_the_images_and_adds_only_missing_names() {
        let u = User {
            home: Some("/home/app".into()),
            ..User::default()
        };
        let d = doc(json!({"config": {"Env": ["PATH=/bin", "A=1", "A=2", "HOME=/h"]}}));
        assert_eq!(env(d.exec(), &u), ["PATH=/bin", "A=2", "HOME=/h"]);
        let d = doc(json!({"config": {"Env": ["A=1"]}}));
        assert_eq!(env(d.exec(), &u), ["A=1", DEFAULT_PATH, "HOME=/home/app"]);
        assert_eq!(env(d.exec(), &User::default()), ["A=1", DEFAULT_PATH]);
    }

    #[test]
    fn annotations_follow_conversion_md_and_labels_win() {
        let d = doc(json!({
            "os": "linux", "architecture": "amd64", "variant": "v3",
            "os.features": ["a", "b"], "author": "me", "created": "2020-01-01T00:00:00Z",
            "config": {
                "StopSignal": "SIGINT",
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                "Volumes": {"/data": {}, "/cache": {}},
                "Labels": {"org.opencontainers.image.os": "plan9", "x": "y"}
            }
        }));
        let a = annotations(&d);
        assert_eq!(a[ANN_OS], "plan9");
        assert_eq!(a[ANN_ARCH], "amd64");
        assert_eq!(a[ANN_VARIANT], "v3");
        assert_eq!(a[ANN_OS_FEATURES], "a,b");
        assert_eq!(a[ANN_AUTHOR], "me");
        assert_eq!(a[ANN_CREATED], "2020-01-01T00:00:00Z");
        assert_eq!(a[ANN_STOP_SIGNAL], "SIGINT");
        assert_eq!(a[ANN_EXPOSED_PORTS], "53/udp,80/tcp");
        assert_eq!(a[ANN_VOLUMES], "/cache,/data");
        assert_eq!(a["x"], "y");
        assert!(!a.contains_key(ANN_OS_VERSION));
    }

    #[test]
    fn runtime_config_fills_process_root_and_volume_mounts() {
        let d = doc(json!({
            "os": "linux", "architecture": "amd64",
            "config": {"Cmd": ["/bin/sh"], "WorkingDir": "/w", "Volumes": {"/data": {}}}
        }));
        let u = User {
            uid: 1,
            gid: 2,
            additional_gids: vec![3],
            home: None,
        };
        let s = runtime_config(&d, &u);
        assert_eq!(s["process"]["args"], json!(["/bin/sh"]));
        assert_eq!(s["process"]["cwd"], "/w");
        assert_eq!(s["process"]["terminal"], false);
        assert_eq!(
            s["process"]["user"],
            json!({"uid": 1, "gid": 2, "additionalGids": [3]})
        );
        assert_eq!(s["root"], json!({"path": "rootfs", "readonly": false}));
        let mounts = s["mounts"].as_array().unwrap();
        assert!(mounts.iter().any(|m| m["destination"] == "/proc"));
        let v = mounts.iter().find(|m| m["destination"] == "/data").unwrap();
        assert_eq!(v["type"], "tmpfs");
        assert_eq!(s["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let d = doc(json!({}));
        assert_eq!(runtime_config(&d, &User::default())["process"]["cwd"], "/");
    }
}
