//! The container's exit, recorded atomically (temp file + rename, so a
//! reader sees nothing or everything):
//! - the exit file (`--exit-file`, default `STATE_DIR/exit`): the decimal
//!   code and nothing else, as conmon writes it; 128+N for signal N.
//! - `STATE_DIR/exit.json`:
//!   `{"pid":P,"exit_code":C,"signal":N|null,"finished_at":"RFC3339Nano","oom_killed":B}`.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("exit file {path}: {source}")]
pub struct ExitFileError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    pub pid: i32,
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished_at: String,
    pub oom_killed: bool,
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExitFileError> {
    crate::fsutil::write_atomic(path, bytes).map_err(|source| ExitFileError {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes both files: the JSON first, so whoever waits on the plain exit
/// file finds the details already there.
pub fn record(exit_file: &Path, json_file: &Path, r: &ExitRecord) -> Result<(), ExitFileError> {
    let json = serde_json::to_vec(r).map_err(|e| ExitFileError {
        path: json_file.to_path_buf(),
        source: io::Error::other(e),
    })?;
    write_atomic(json_file, &json)?;
    write_atomic(exit_file, r.exit_code.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn both_files_hold_the_record_and_no_temp_is_left() {
        let dir = std::env::temp_dir().join(format!("berth-shim-exit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let r = ExitRecord {
            pid: 7,
            exit_code: 143,
            signal: Some(15),
            finished_at: "2026-12-01T23:11:02.123456789Z".into(),
            oom_killed: false,
        };
        record(&dir.join("exit"), &dir.join("exit.json"), &r).unwrap();
        assert_eq!(fs::read_to_string(dir.join("exit")).unwrap(), "143");
        let back: ExitRecord =
            serde_json::from_slice(&fs::read(dir.join("exit.json")).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
