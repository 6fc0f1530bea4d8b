//! Files other processes read while the shim writes them (exit files,
//! containerd's `address` and `shim.pid`): written to `PATH.tmp`, synced,
//! and renamed, so a reader sees the old content or the whole new one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through `path.tmp`, fsync and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes).and_then(|()| f.sync_all())?;
    fs::rename(&tmp, path)
}
