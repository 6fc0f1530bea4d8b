//! The unpacked-layer cache: `layers/sha256/<compressed blob hex>/` holds
//! one layer extracted in overlayfs form ([`Form::Overlay`]), made once and
//! shared read-only by every overlay bundle of every image that has the
//! layer.
//!
//! Contract with the store's gc: a layer is extracted into
//! `.<hex>-<pid>-<n>` beside its final name and renamed into place only
//! when complete, so a crash never leaves a half layer under the final
//! name (the filesystem is synced before the rename, so this holds
//! across power loss too); gc removes `<hex>` and `.<hex>-*` together once the blob is
//! unreferenced. Callers hold [`Store::use_lock`] (shared) from
//! [`ensure`] until the bundle is mounted, so gc cannot remove a layer in
//! between.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::image::Descriptor;

use super::{apply_blob, Form, LayerError};
use crate::store::{Store, StoreError};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// `layers/sha256/<hex>` for a layer blob (whether present or not).
pub fn path(store: &Store, desc: &Descriptor) -> Result<PathBuf, LayerError> {
    let d = desc.digest().to_string();
    match d.split_once(':') {
        Some(("sha256", hex)) => Ok(store.layers_dir().join("sha256").join(hex)),
        _ => Err(StoreError::Algorithm(d).into()),
    }
}

/// Whether the layer is already extracted.
pub fn contains(store: &Store, desc: &Descriptor) -> bool {
    path(store, desc).map(|p| p.is_dir()).unwrap_or(false)
}

/// The extracted layer's directory, extracting it first when missing.
/// Concurrent callers may both extract; the first rename wins and the
/// other's copy is dropped.
pub fn ensure(
    store: &Store,
    desc: &Descriptor,
    diff_id: Option<&str>,
) -> Result<PathBuf, LayerError> {
    let fin = path(store, desc)?;
    if fin.is_dir() {
        return Ok(fin);
    }
    let dir = fin.parent().expect("layer path has a parent").to_path_buf();
    let cache_err = |p: &std::path::Path| {
        let p = p.display().to_string();
        move |source: io::Error| LayerError::Cache { path: p, source }
    };
    fs::create_dir_all(&dir).map_err(cache_err(&dir))?;
    let hex = fin.file_name().unwrap().to_string_lossy().into_owned();
    remove_abandoned(&dir, &hex);
    let tmp = dir.join(format!(
        ".{hex}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&tmp).map_err(cache_err(&tmp))?;
    // The layer's root: 0755 unless its tar says otherwise (`./`).
    fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(cache_err(&tmp))?;
    let done = apply_blob(store, desc, diff_id, &tmp, Form::Overlay).and_then(|_| {
        // The layer's data must be on disk before its final name is: a
        // power cut after the rename must not leave empty files there.
        // One syncfs is far cheaper than an fsync per file.
        let d = fs::File::open(&tmp).map_err(cache_err(&tmp))?;
        nix::unistd::syncfs(&d)
            .map_err(|e| cache_err(&tmp)(io::Error::from_raw_os_error(e as i32)))?;
        match fs::rename(&tmp, &fin) {
            Ok(()) => Ok(()),
            // Someone else finished first: theirs is as good as ours.
            Err(_) if fin.is_dir() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => Err(cache_err(&fin)(e)),
        }
    });
    if let Err(e) = done {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(fin)
}

/// `.<hex>-<pid>-<n>` dirs left by processes that died mid-extraction.
fn remove_abandoned(dir: &std::path::Path, hex: &str) {
    let prefix = format!(".{hex}-");
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
