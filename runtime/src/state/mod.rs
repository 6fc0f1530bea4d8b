//! `<root>/<id>/`: the container's state directory. `state.json` is written
//! atomically (temp file + rename); mutating commands hold an exclusive flock
//! on the directory so concurrent berth calls on one container serialize.
//! Status is never trusted from disk alone: it is derived from the init
//! process (gone, zombie or recycled pid = stopped), the exec fifo (created)
//! and the freezer (paused).

pub mod status;
pub mod time;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use status::Status;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
pub const CONFIG_COPY: &str = "config.json";
/// The cgroup directories of a container whose create has not finished:
/// written as soon as they exist, so that `delete` of an id whose launcher
/// was killed can remove them.
pub const CGROUP_PATHS: &str = "cgroup.paths";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with id {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.', not \".\" or \"..\"")]
    InvalidId(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt state: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What berth persists about a container. The first fields are the OCI state;
/// `berth` holds what later commands need and the spec does not define.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub berth: Internal,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Internal {
    /// Start time of the init process (/proc/<pid>/stat field 22), to tell it
    /// apart from a later process that got the same pid.
    pub init_start_time: u64,
    /// The cgroup directories the container was placed in, one per hierarchy.
    #[serde(default)]
    pub cgroup_paths: Vec<PathBuf>,
    /// linux.resources as last applied (create, then each update merged
    /// in), so that `update` changes only what it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// poststop hooks, run by `delete` after the bundle may be gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

/// The OCI state as `berth state` prints it (runc's field order and shape).
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
    pub owner: &'a str,
}

/// Checks a container id the way runc does: `^[\w+\-.]+$`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// A container's state directory, with its lock held when mutating.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    pub state: State,
    _lock: Option<Flock<File>>,
}

/// Creates `<root>` (0700) if needed and returns it.
pub fn ensure_root(root: &Path) -> Result<(), StateError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(io_err("create", root))
}

/// Creates the directory of a new container; fails if the id is taken.
pub fn create_dir(root: &Path, id: &str) -> Result<PathBuf, StateError> {
    validate_id(id)?;
    ensure_root(root)?;
    let dir = root.join(id);
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(StateError::Exists(id.to_string()))
        }
        Err(e) => Err(StateError::Io {
            op: "create",
            path: dir,
            source: e,
        }),
    }
}

fn lock_dir(dir: &Path) -> Result<Flock<File>, StateError> {
    let f = File::open(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StateError::NotExist,
        _ => StateError::Io {
            op: "open",
            path: dir.to_path_buf(),
            source: e,
        },
    })?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| StateError::Io {
        op: "lock",
        path: dir.to_path_buf(),
        source: e.into(),
    })
}

impl Container {
    /// Loads a container without locking (for read-only commands).
    pub fn load(root: &Path, id: &str) -> Result<Container, StateError> {
        validate_id(id).map_err(|_| StateError::NotExist)?;
        let dir = root.join(id);
        let state = read_state(&dir)?;
        Ok(Container {
            dir,
            state,
            _lock: None,
        })
    }

    /// Loads a container and holds its exclusive lock until dropped. The
    /// state is read after the lock is taken, so it reflects any change the
    /// previous holder made (including deletion).
    pub fn load_locked(root: &Path, id: &str) -> Result<Container, StateError> {
        validate_id(id).map_err(|_| StateError::NotExist)?;
        let dir = root.join(id);
        let lock = lock_dir(&dir)?;
        let state = read_state(&dir)?;
        Ok(Container {
            dir,
            state,
            _lock: Some(lock),
        })
    }

    /// Wraps a state directory without a lock (the launcher releases it so
    /// other commands can act on a container `run` keeps in the foreground).
    pub fn new_unlocked(dir: PathBuf, state: State) -> Container {
        Container {
            dir,
            state,
            _lock: None,
        }
    }

    /// Releases the lock early (long waits must not block kill or delete).
    pub fn unlock(&mut self) {
        self._lock = None;
    }

    /// Writes state.json atomically.
    pub fn save(&self) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(&self.state).expect("state serializes");
        let path = self.dir.join(STATE_FILE);
        write_atomic(&path, &bytes, 0o600).map_err(io_err("write", &path))
    }

    /// The status as it truly is now.
    pub fn status(&self) -> Status {
        status::derive(&self.state, &self.dir)
    }

    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        let s = &self.state;
        OciState {
            oci_version: &s.oci_version,
            id: &s.id,
            pid: if status == Status::Stopped { 0 } else { s.pid },
            status,
            bundle: &s.bundle,
            rootfs: &s.rootfs,
            created: &s.created,
            annotations: &s.annotations,
            owner: &s.owner,
        }
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Removes the state directory (the lock goes with it).
    pub fn remove(self) -> Result<(), StateError> {
        remove_dir(&self.dir)
    }
}

/// Writes `path` through a temp file beside it and a rename, so readers see
/// the old content or the new, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    std::fs::rename(&tmp, path)
}

/// Removes a state directory and everything in it; a missing one is fine.
pub fn remove_dir(dir: &Path) -> Result<(), StateError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StateError::Io {
            op: "remove",
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

fn read_state(dir: &Path) -> Result<State, StateError> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StateError::NotExist,
        _ => StateError::Io {
            op: "read",
            path: path.clone(),
            source: e,
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
}

/// Ids of every container under `root` that has a state file, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StateError::Io {
                op: "read",
                path: root.to_path_buf(),
                source: e,
            })
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "abc-1.2_3+x", "A.B"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "/", "a b", "x\n", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn create_twice_is_exists_and_save_load_roundtrip() {
        let root = tempfile::tempdir().unwrap();
        let dir = create_dir(root.path(), "c1").unwrap();
        assert!(matches!(
            create_dir(root.path(), "c1"),
            Err(StateError::Exists(_))
        ));
        let state = State {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            pid: 0,
            status: Status::Created,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            owner: String::new(),
            annotations: HashMap::new(),
            berth: Internal::default(),
        };
        let c = Container::new_unlocked(dir, state);
        c.save().unwrap();
        drop(c);
        let c = Container::load(root.path(), "c1").unwrap();
        assert_eq!(c.state.bundle, PathBuf::from("/b"));
        assert_eq!(c.status(), Status::Stopped, "pid 0 is never alive");
        assert_eq!(list_ids(root.path()).unwrap(), vec!["c1".to_string()]);
        c.remove().unwrap();
        assert!(matches!(
            Container::load(root.path(), "c1"),
            Err(StateError::NotExist)
        ));
    }

    #[test]
    fn bad_id_reads_as_missing() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            Container::load(root.path(), "../etc"),
            Err(StateError::NotExist)
        ));
    }
}
