//! Which runtime binary the shim drives, and how: containerd's task options.
//!
//! Two encodings reach a shim that is not `io.containerd.runc.v2`:
//! - `containerd.runc.v1.Options` (BinaryName, Root, SystemdCgroup, ...),
//!   sent by Go clients that set it explicitly;
//! - `runtimeoptions.v1.Options` {type_url, config_path}: what CRI sends for
//!   any other runtime_type (its `options` table is decoded into this type,
//!   so only ConfigPath survives) and what `ctr --runtime-config-path`
//!   sends. The file it names is a flat TOML table with the runc option
//!   names: `BinaryName = "runc"`, `Root = "/run/x"`, `SystemdCgroup = true`.
//!
//! With neither, the runtime is `berth` on PATH, with `--root` under
//! /run/containerd/berth/<namespace> (runc's shim does the same with
//! /run/containerd/runc).

use std::path::{Path, PathBuf};

use containerd_shim_protos::protobuf::{self, Message};
use containerd_shim_protos::shim::oci::Options as RuncOptions;
use protobuf::well_known_types::any::Any;

use crate::runtime::Runtime;

pub const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";
pub const RUNTIME_OPTIONS: &str = "runtimeoptions.v1.Options";
/// Where options are kept for `delete`, which runs with no Create request.
pub const SAVED: &str = "berth-shim-options.json";
const DEFAULT_BINARY: &str = "berth";
const DEFAULT_ROOT: &str = "/run/containerd/berth";

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("decoding {type_url}: {source}")]
    Decode {
        type_url: String,
        #[source]
        source: protobuf::Error,
    },
    #[error("runtime config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime config {path}:{line}: {what}")]
    Syntax {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{path}: {source}")]
    Saved {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The options the shim honours.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeOptions {
    pub binary_name: Option<String>,
    pub root: Option<String>,
    pub systemd_cgroup: bool,
    pub no_pivot_root: bool,
    pub no_new_keyring: bool,
}

impl RuntimeOptions {
    /// Decodes a Create request's options (absent: defaults).
    pub fn from_any(any: Option<&Any>) -> Result<Self, OptionsError> {
        let Some(any) = any else {
            return Ok(Self::default());
        };
        let name = any
            .type_url
            .strip_prefix("type.googleapis.com/")
            .unwrap_or(&any.type_url);
        let decode_err = |source| OptionsError::Decode {
            type_url: any.type_url.clone(),
            source,
        };
        match name {
            RUNC_OPTIONS => {
                let o = RuncOptions::parse_from_bytes(&any.value).map_err(decode_err)?;
                Ok(RuntimeOptions {
                    binary_name: Some(o.binary_name).filter(|s| !s.is_empty()),
                    root: Some(o.root).filter(|s| !s.is_empty()),
                    systemd_cgroup: o.systemd_cgroup,
                    no_pivot_root: o.no_pivot_root,
                    no_new_keyring: o.no_new_keyring,
                })
            }
            RUNTIME_OPTIONS => {
                let path = config_path(&any.value).map_err(decode_err)?;
                match path {
                    Some(p) => Self::from_config_file(Path::new(&p)),
                    None => Ok(Self::default()),
                }
            }
            // Unknown option types are someone else's business (a runtime
            // class with no options of ours): defaults.
            _ => Ok(Self::default()),
        }
    }

    /// Reads a runtime config file (see the module docs).
    pub fn from_config_file(path: &Path) -> Result<Self, OptionsError> {
        let text = std::fs::read_to_string(path).map_err(|source| OptionsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_config_text(&text).map_err(|(line, what)| OptionsError::Syntax {
            path: path.to_path_buf(),
            line,
            what,
        })
    }

    /// Parses `Key = value` lines; `#` comments and `[table]` headers are
    /// skipped, unknown keys ignored (runc's shim has more options).
    pub fn from_config_text(text: &str) -> Result<Self, (usize, String)> {
        let mut o = Self::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err((n + 1, format!("expected `key = value`, got {line:?}")));
            };
            let (k, v) = (k.trim().trim_matches('"'), v.trim());
            let string = || -> Result<String, (usize, String)> {
                v.strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .map(str::to_string)
                    .ok_or((n + 1, format!("{k}: expected a quoted string")))
            };
            let boolean = || -> Result<bool, (usize, String)> {
                match v {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err((n + 1, format!("{k}: expected true or false"))),
                }
            };
            match k {
                "BinaryName" => o.binary_name = Some(string()?).filter(|s| !s.is_empty()),
                "Root" => o.root = Some(string()?).filter(|s| !s.is_empty()),
                "SystemdCgroup" => o.systemd_cgroup = boolean()?,
                "NoPivotRoot" => o.no_pivot_root = boolean()?,
                "NoNewKeyring" => o.no_new_keyring = boolean()?,
                _ => {}
            }
        }
        Ok(o)
    }

    /// The runtime these options choose, for `namespace`.
    pub fn runtime(&self, namespace: &str, bundle: &Path) -> Runtime {
        let mut r = Runtime::new(self.binary_name.as_deref().unwrap_or(DEFAULT_BINARY));
        let root = self.root.as_deref().unwrap_or(DEFAULT_ROOT);
        r.root = Some(Path::new(root).join(namespace));
        r.systemd_cgroup = self.systemd_cgroup;
        // Where runc's shim puts it too: containerd shows its last error.
        r.log = Some(bundle.join("log.json"));
        r
    }

    pub fn save(&self, bundle: &Path) -> Result<(), OptionsError> {
        let path = bundle.join(SAVED);
        let json = serde_json::to_vec(self).expect("options serialize");
        std::fs::write(&path, json).map_err(|source| OptionsError::Saved { path, source })
    }

    /// The options Create saved; defaults when there are none.
    pub fn load(bundle: &Path) -> Self {
        std::fs::read(bundle.join(SAVED))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

/// Field 2 (config_path) of runtimeoptions.v1.Options.
fn config_path(bytes: &[u8]) -> Result<Option<String>, protobuf::Error> {
    let mut is = protobuf::CodedInputStream::from_bytes(bytes);
    let mut path = None;
    while let Some(tag) = is.read_raw_tag_or_eof()? {
        if tag == (2 << 3) | 2 {
            path = Some(is.read_string()?).filter(|s| !s.is_empty());
        } else {
            is.skip_field(protobuf::rt::WireType::new(tag & 7).ok_or_else(|| {
                protobuf::Error::from(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "bad wire type",
                ))
            })?)?;
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_options_choose_the_binary_and_root() {
        let mut o = RuncOptions::new();
        o.binary_name = "/usr/sbin/runc".into();
        o.root = "/run/x".into();
        o.systemd_cgroup = true;
        let mut any = Any::new();
        any.type_url = RUNC_OPTIONS.into();
        any.value = o.write_to_bytes().unwrap();
        let got = RuntimeOptions::from_any(Some(&any)).unwrap();
        assert_eq!(got.binary_name.as_deref(), Some("/usr/sbin/runc"));
        let r = got.runtime("k8s.io", Path::new("/b"));
        assert_eq!(r.binary, Path::new("/usr/sbin/runc"));
        assert_eq!(r.root.as_deref(), Some(Path::new("/run/x/k8s.io")));
        assert!(r.systemd_cgroup);
        assert_eq!(r.log.as_deref(), Some(Path::new("/b/log.json")));
    }

    #[test]
    fn no_options_mean_berth_on_path_under_containerds_run_dir() {
        let r = RuntimeOptions::from_any(None)
            .unwrap()
            .runtime("default", Path::new("/b"));
        assert_eq!(r.binary, Path::new("berth"));
        assert_eq!(
            r.root.as_deref(),
            Some(Path::new("/run/containerd/berth/default"))
        );
    }

    #[test]
    fn cri_runtime_options_point_at_a_toml_file() {
        let dir = std::env::temp_dir().join(format!("v2-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("berth.toml");
        std::fs::write(
            &file,
            "# berth\n[options]\nBinaryName = \"/opt/runc\"\nSystemdCgroup = false\nShimCgroup = \"\"\n",
        )
        .unwrap();
        // runtimeoptions.v1.Options{type_url: "x", config_path: file}
        let mut os = Vec::new();
        {
            let mut w = protobuf::CodedOutputStream::vec(&mut os);
            w.write_string(1, "x").unwrap();
            w.write_string(2, file.to_str().unwrap()).unwrap();
            w.flush().unwrap();
        }
        let mut any = Any::new();
        any.type_url = format!("type.googleapis.com/{RUNTIME_OPTIONS}");
        any.value = os;
        let got = RuntimeOptions::from_any(Some(&any)).unwrap();
        assert_eq!(got.binary_name.as_deref(), Some("/opt/runc"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_errors_name_the_line() {
        assert_eq!(
            RuntimeOptions::from_config_text("BinaryName = runc").unwrap_err(),
            (1, "BinaryName: expected a quoted string".to_string())
        );
        assert_eq!(
            RuntimeOptions::from_config_text("\nSystemdCgroup = yes").unwrap_err(),
            (2, "SystemdCgroup: expected true or false".to_string())
        );
    }

    #[test]
    fn saved_options_survive_for_delete() {
        let dir = std::env::temp_dir().join(format!("v2-saved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(RuntimeOptions::load(&dir), RuntimeOptions::default());
        let o = RuntimeOptions {
            binary_name: Some("crun".into()),
            ..Default::default()
        };
        o.save(&dir).unwrap();
        assert_eq!(RuntimeOptions::load(&dir), o);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
