//! Reading config.json. Errors name the file and the JSON path of the bad
//! value (`config.json: linux.namespaces[2].type: unknown variant "foo"`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::Value;

/// Why a bundle's configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config.json: {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config.json: {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("config.json: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

impl SpecError {
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Loads and parses `<bundle>/config.json`.
pub fn load_bundle(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|source| SpecError::Read { path, source })?;
    parse(&bytes)
}

/// Parses config.json bytes. Unknown fields are ignored, as the spec demands.
/// Capability names the spec crate does not know (newer kernels) are dropped
/// with a warning, as runc does, instead of failing the container.
pub fn parse(bytes: &[u8]) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Spec>(&mut de) {
        Ok(spec) => Ok(spec),
        Err(err) if err.path().to_string().starts_with("process.capabilities.") => {
            let mut value: Value =
                serde_json::from_slice(bytes).map_err(|e| parse_error(".", &e))?;
            drop_unknown_capabilities(&mut value);
            serde_path_to_error::deserialize(value)
                .map_err(|e| parse_error(&e.path().to_string(), e.inner()))
        }
        Err(err) => Err(parse_error(&err.path().to_string(), err.inner())),
    }
}

fn parse_error(path: &str, err: &dyn std::fmt::Display) -> SpecError {
    let path = if path == "." {
        "(root)".to_string()
    } else {
        path.to_string()
    };
    SpecError::Parse {
        path,
        message: err.to_string(),
    }
}

fn drop_unknown_capabilities(value: &mut Value) {
    let Some(sets) = value
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (set, list) in sets.iter_mut() {
        if let Some(items) = list.as_array_mut() {
            items.retain(|cap| {
                let known =
                    serde_json::from_value::<oci_spec::runtime::Capability>(cap.clone()).is_ok();
                if !known {
                    tracing::warn!(set = %set, capability = %cap, "ignoring unknown capability");
                }
                known
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}}"#;

    #[test]
    fn minimal_config_parses() {
        let spec = parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(spec.version(), "1.0.2");
    }

    #[test]
    fn unknown_namespace_names_json_path() {
        let cfg = r#"{"ociVersion":"1.0.2","root":{"path":"r"},"linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"foo"}]}}"#;
        let err = parse(cfg.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: linux.namespaces[2].type: "),
            "{err}"
        );
        assert!(err.contains("foo"), "{err}");
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = parse(b"{\"ociVersion\": ").unwrap_err().to_string();
        assert!(err.starts_with("config.json: "), "{err}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let cfg =
            r#"{"ociVersion":"1.0.2","root":{"path":"r","future":1},"somethingNew":{"x":true}}"#;
        parse(cfg.as_bytes()).unwrap();
    }

    #[test]
    fn unknown_capability_is_dropped_not_fatal() {
        let cfg = r#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_KILL","CAP_FROM_THE_FUTURE"]}}}"#;
        let spec = parse(cfg.as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }
}
