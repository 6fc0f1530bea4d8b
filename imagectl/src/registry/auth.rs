//! Stored registry credentials, as podman and skopeo keep them: containers'
//! `auth.json` (`{"auths": {"host[/path]": {"auth": base64("user:pass")}}}`),
//! read alongside docker's `config.json`. This module finds the files,
//! looks credentials up and edits `auth.json` for `login`/`logout`; it does
//! no network I/O.
//!
//! Which files (containers/image `pkg/docker/config`):
//! - `--authfile` or `$REGISTRY_AUTH_FILE`: that one file, for reading and
//!   writing, nothing else;
//! - otherwise writes go to `$XDG_RUNTIME_DIR/containers/auth.json`, or to
//!   `/run/containers/<uid>/auth.json` when `XDG_RUNTIME_DIR` is unset, and
//!   reads try, in order, that file, `$XDG_CONFIG_HOME/containers/auth.json`
//!   (`~/.config/...`), `$DOCKER_CONFIG/config.json` (`~/.docker/...`).
//!
//! Keys are matched most specific first (`host/ns/repo`, `host/ns`, `host`);
//! docker's legacy keys (`https://index.docker.io/v1/`) count as their host.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a credentials file: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error("{path}: entry {key:?}: {detail}")]
    BadEntry {
        path: PathBuf,
        key: String,
        detail: String,
    },
    #[error("not logged in to {0}")]
    NotLoggedIn(String),
}

/// A username and password (or identity-token-less secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

/// Where credentials come from: the environment facts the path rules use,
/// captured once so lookups are pure and testable.
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    /// `--authfile` or `$REGISTRY_AUTH_FILE`: when set, the only file.
    pub explicit: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub uid: u32,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl AuthFiles {
    /// From the process environment; `authfile` is the `--authfile` flag.
    pub fn from_env(authfile: Option<&Path>) -> AuthFiles {
        AuthFiles {
            explicit: authfile
                .map(Path::to_path_buf)
                .or_else(|| env_path("REGISTRY_AUTH_FILE")),
            xdg_runtime_dir: env_path("XDG_RUNTIME_DIR"),
            xdg_config_home: env_path("XDG_CONFIG_HOME"),
            docker_config: env_path("DOCKER_CONFIG"),
            home: env_path("HOME"),
            uid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// The file `login` writes and `logout` edits.
    pub fn write_path(&self) -> PathBuf {
        if let Some(p) = &self.explicit {
            return p.clone();
        }
        match &self.xdg_runtime_dir {
            Some(d) => d.join("containers/auth.json"),
            None => PathBuf::from(format!("/run/containers/{}/auth.json", self.uid)),
        }
    }

    /// The files read, in lookup order.
    pub fn read_paths(&self) -> Vec<PathBuf> {
        if let Some(p) = &self.explicit {
            return vec![p.clone()];
        }
        let mut v = vec![self.write_path()];
        let config = self
            .xdg_config_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")));
        if let Some(c) = config {
            v.push(c.join("containers/auth.json"));
        }
        let docker = self
            .docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")));
        if let Some(d) = docker {
            v.push(d.join("config.json"));
        }
        v
    }

    /// Credentials for `registry` (and `repository`, for path-scoped
    /// keys); the file they were found in comes along for messages.
    pub fn lookup(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<(Credentials, PathBuf)>, AuthError> {
        for p in self.read_paths() {
            let Some(doc) = read_doc(&p)? else { continue };
            if let Some(c) = lookup_in(&doc, &p, registry, repository)? {
                return Ok(Some((c, p)));
            }
        }
        Ok(None)
    }

    /// Stores credentials for `key` (a registry, or registry/path).
    pub fn store(&self, key: &str, c: &Credentials) -> Result<PathBuf, AuthError> {
        let p = self.write_path();
        let mut doc = read_doc(&p)?.unwrap_or_else(|| Value::Object(Map::new()));
        set_entry(&mut doc, &p, key, c)?;
        write_doc(&p, &doc)?;
        Ok(p)
    }

    /// Removes `key`'s credentials from the write file.
    pub fn remove(&self, key: &str) -> Result<PathBuf, AuthError> {
        let p = self.write_path();
        let mut doc = read_doc(&p)?.ok_or_else(|| AuthError::NotLoggedIn(key.to_string()))?;
        if !remove_entry(&mut doc, key) {
            return Err(AuthError::NotLoggedIn(key.to_string()));
        }
        write_doc(&p, &doc)?;
        Ok(p)
    }

    /// Empties the write file's `auths`.
    pub fn remove_all(&self) -> Result<PathBuf, AuthError> {
        let p = self.write_path();
        if let Some(mut doc) = read_doc(&p)? {
            if let Some(o) = doc.as_object_mut() {
                o.insert("auths".into(), Value::Object(Map::new()));
            }
            write_doc(&p, &doc)?;
        }
        Ok(p)
    }
}

fn read_doc(p: &Path) -> Result<Option<Value>, AuthError> {
    let bytes = match fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::Io {
                path: p.into(),
                source,
            })
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(Map::new())));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| AuthError::Malformed {
        path: p.into(),
        detail: e.to_string(),
    })?;
    if !v.is_object() {
        return Err(AuthError::Malformed {
            path: p.into(),
            detail: "top level is not an object".into(),
        });
    }
    Ok(Some(v))
}

/// Private to the user: the directory 0700, the file 0600, landed by rename.
fn write_doc(p: &Path, doc: &Value) -> Result<(), AuthError> {
    let io_err = |source| AuthError::Io {
        path: p.into(),
        source,
    };
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_err)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        }
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    let r = (|| {
        let mut f = fs::File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut bytes = serde_json::to_vec_pretty(doc).expect("a JSON value serialises");
        bytes.push(b'\n');
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, p)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(io_err)
}

/// `https://index.docker.io/v1/` → `docker.io`; `quay.io/ns` stays.
/// A key with a scheme is docker's legacy form and means its host only.
pub fn normalize_key(key: &str) -> String {
    let (had_scheme, rest) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(r) => (true, r),
        None => (false, key),
    };
    let rest = if had_scheme {
        rest.split('/').next().unwrap_or(rest)
    } else {
        rest.trim_end_matches('/')
    };
    normalize_registry(rest)
}

fn normalize_registry(key: &str) -> String {
    let (host, path) = match key.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (key, None),
    };
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    };
    match path {
        Some(p) => format!("{host}/{p}"),
        None => host.to_string(),
    }
}

/// Keys to try for an image, most specific first.
pub fn candidate_keys(registry: &str, repository: &str) -> Vec<String> {
    let reg = normalize_registry(registry);
    let mut keys = Vec::new();
    let parts: Vec<&str> = repository.split('/').filter(|p| !p.is_empty()).collect();
    for n in (1..=parts.len()).rev() {
        keys.push(format!("{reg}/{}", parts[..n].join("/")));
    }
    keys.push(reg);
    keys
}

fn auths(doc: &Value) -> BTreeMap<String, &Value> {
    doc.get("auths")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (normalize_key(k), v)).collect())
        .unwrap_or_default()
}

/// Pure lookup in one parsed file.
pub fn lookup_in(
    doc: &Value,
    path: &Path,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, AuthError> {
    let entries = auths(doc);
    for key in candidate_keys(registry, repository) {
        if let Some(e) = entries.get(&key) {
            if let Some(c) = decode_entry(e, path, &key)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

fn decode_entry(e: &Value, path: &Path, key: &str) -> Result<Option<Credentials>, AuthError> {
    let bad = |detail: &str| AuthError::BadEntry {
        path: path.into(),
        key: key.into(),
        detail: detail.into(),
    };
    let Some(auth) = e
        .get("auth")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        // An entry with only an identitytoken (OAuth refresh token) is not
        // something this client can use; keep looking elsewhere.
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("\"auth\" is not base64"))?;
    let s = String::from_utf8(raw).map_err(|_| bad("\"auth\" is not UTF-8"))?;
    let (u, p) = s
        .split_once(':')
        .ok_or_else(|| bad("\"auth\" is not user:password"))?;
    Ok(Some(Credentials {
        username: u.to_string(),
        password: p.trim_end_matches('\n').to_string(),
    }))
}

fn set_entry(doc: &mut Value, path: &Path, key: &str, c: &Credentials) -> Result<(), AuthError> {
    let obj = doc.as_object_mut().ok_or_else(|| AuthError::Malformed {
        path: path.into(),
        detail: "top level is not an object".into(),
    })?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let auths = auths.as_object_mut().ok_or_else(|| AuthError::Malformed {
        path: path.into(),
        detail: "\"auths\" is not an object".into(),
    })?;
    let enc =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    auths.insert(key.to_string(), serde_json::json!({ "auth": enc }));
    Ok(())
}

/// Removes every key that normalises to `key`; whether any was there.
fn remove_entry(doc: &mut Value, key: &str) -> bool {
    let want = normalize_key(key);
    let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else {
        return false;
    };
    let before = auths.len();
    auths.retain(|k, _| normalize_key(k) != want);
    auths.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn files(home: &Path) -> AuthFiles {
        AuthFiles {
            explicit: None,
            xdg_runtime_dir: Some(home.join("run")),
            xdg_config_home: None,
            docker_config: None,
            home: Some(home.to_path_buf()),
            uid: 1000,
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("imagectl-auth-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn path_rules_follow_containers_image() {
        let mut f = files(Path::new("/h"));
        assert_eq!(f.write_path(), PathBuf::from("/h/run/containers/auth.json"));
        assert_eq!(
            f.read_paths(),
            vec![
                PathBuf::from("/h/run/containers/auth.json"),
                PathBuf::from("/h/.config/containers/auth.json"),
                PathBuf::from("/h/.docker/config.json"),
            ]
        );
        f.xdg_runtime_dir = None;
        f.uid = 0;
        assert_eq!(f.write_path(), PathBuf::from("/run/containers/0/auth.json"));
        f.docker_config = Some("/dc".into());
        assert_eq!(f.read_paths()[2], PathBuf::from("/dc/config.json"));
        f.explicit = Some("/x/a.json".into());
        assert_eq!(f.read_paths(), vec![PathBuf::from("/x/a.json")]);
        assert_eq!(f.write_path(), PathBuf::from("/x/a.json"));
    }

    #[test]
    fn keys_normalise_docker_legacy_forms() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(normalize_key("quay.io/ns/"), "quay.io/ns");
        assert_eq!(
            candidate_keys("quay.io", "a/b"),
            vec!["quay.io/a/b", "quay.io/a", "quay.io"]
        );
    }

    #[test]
    fn the_most_specific_key_wins() {
        let doc = serde_json::json!({"auths": {
            "quay.io": {"auth": enc("all:1")},
            "quay.io/team": {"auth": enc("team:2")},
        }});
        let p = Path::new("/f");
        let get = |repo: &str| {
            lookup_in(&doc, p, "quay.io", repo)
                .unwrap()
                .unwrap()
                .username
        };
        assert_eq!(get("team/app"), "team");
        assert_eq!(get("other/app"), "all");
        assert!(lookup_in(&doc, p, "ghcr.io", "x").unwrap().is_none());
    }

    #[test]
    fn a_bad_entry_names_file_and_key() {
        let doc = serde_json::json!({"auths": {"r.io": {"auth": "!!"}}});
        let e = lookup_in(&doc, Path::new("/f.json"), "r.io", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/f.json") && e.contains("r.io"), "{e}");
        let only_token = serde_json::json!({"auths": {"r.io": {"identitytoken": "t"}}});
        assert!(lookup_in(&only_token, Path::new("/f"), "r.io", "x")
            .unwrap()
            .is_none());
    }

    #[test]
    fn auth_json_comes_before_docker_config() {
        let home = tmp("order");
        let f = files(&home);
        fs::create_dir_all(home.join(".docker")).unwrap();
        fs::write(
            home.join(".docker/config.json"),
            serde_json::json!({"auths": {"https://r.io/v1/": {"auth": enc("docker:d")}}})
                .to_string(),
        )
        .unwrap();
        let (c, p) = f.lookup("r.io", "app").unwrap().unwrap();
        assert_eq!(c.username, "docker");
        assert!(p.ends_with(".docker/config.json"));
        let c2 = Credentials {
            username: "podman".into(),
            password: "p:w".into(),
        };
        let written = f.store("r.io", &c2).unwrap();
        assert_eq!(
            fs::metadata(&written).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (c, _) = f.lookup("r.io", "app").unwrap().unwrap();
        assert_eq!(c, c2, "passwords may contain ':'");
        f.remove("r.io").unwrap();
        assert!(matches!(f.remove("r.io"), Err(AuthError::NotLoggedIn(_))));
        assert_eq!(
            f.lookup("r.io", "app").unwrap().unwrap().0.username,
            "docker"
        );
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn login_keeps_other_keys_of_the_file() {
        let home = tmp("keep");
        let f = files(&home);
        let p = f.write_path();
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(
            &p,
            r#"{"auths":{"a.io":{"auth":"dTpw"}},"credHelpers":{"b.io":"x"}}"#,
        )
        .unwrap();
        f.store(
            "c.io",
            &Credentials {
                username: "u".into(),
                password: "p".into(),
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert!(v["credHelpers"]["b.io"].is_string());
        assert!(v["auths"]["a.io"].is_object() && v["auths"]["c.io"].is_object());
        f.remove_all().unwrap();
        let v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["auths"].as_object().unwrap().len(), 0);
        fs::remove_dir_all(home).unwrap();
    }
}
