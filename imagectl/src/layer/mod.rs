//! Layers: decompression ([`compression`]: gzip, zstd or plain, by magic
//! bytes), safe application of a layer tar onto a directory ([`apply`]:
//! whiteouts, hard links, symlinks, devices, fifos, xattrs, owners, modes,
//! times; nothing written outside the root), and the unpacked-layer cache
//! ([`cache`]: each layer extracted once, in overlayfs form, under
//! `layers/sha256/<blob hex>/`).
//!
//! The boundary: this module reads blobs from the [`Store`] and writes
//! directories; it knows nothing of runtime bundles ([`crate::bundle`]).

pub mod apply;
pub mod cache;
pub mod compression;
pub mod diff;
pub mod path;

pub use apply::{Form, Stats};

use std::io;
use std::path::Path;

use oci_spec::image::Descriptor;
use sha2::Digest as _;

use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {layer}: entry {entry:?}: refused: {why}")]
    Traversal {
        layer: String,
        entry: String,
        why: String,
    },
    #[error("layer {layer}: entry {entry:?}: {op}: {source}")]
    Io {
        layer: String,
        entry: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer}: not a readable tar stream: {detail}")]
    Corrupt { layer: String, detail: String },
    #[error("layer {layer}: uncompressed content is {actual}, the image config says {expected}")]
    DiffId {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("layer {layer}: unsupported compression {what}")]
    Unsupported { layer: String, what: String },
    #[error("layer cache {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies the stored layer `desc` onto `root` in `form`. When `diff_id`
/// (the config's `rootfs.diff_ids` entry) is given, the uncompressed
/// stream must hash to it, or the layer is an error.
pub fn apply_blob(
    store: &Store,
    desc: &Descriptor,
    diff_id: Option<&str>,
    root: &Path,
    form: Form,
) -> Result<Stats, LayerError> {
    let layer = desc.digest().to_string();
    let f = store.open_blob(desc.digest())?;
    let r = compression::open(desc.media_type().as_ref(), f).map_err(|e| match e {
        compression::OpenError::Unsupported(what) => LayerError::Unsupported {
            layer: layer.clone(),
            what,
        },
        compression::OpenError::Io(e) => LayerError::Corrupt {
            layer: layer.clone(),
            detail: e.to_string(),
        },
    })?;
    let mut h = crate::store::Hashing::new(r);
    let stats = apply::apply(&mut h, root, form, &layer)?;
    // The rest (tar padding, and the compressed stream's trailer, where a
    // truncated or damaged gzip shows itself) must read cleanly too.
    io::copy(&mut h, &mut io::sink()).map_err(|e| LayerError::Corrupt {
        layer: layer.clone(),
        detail: e.to_string(),
    })?;
    if let Some(want) = diff_id {
        let got = format!("sha256:{}", crate::store::hex(&h.hasher.finalize()));
        if got != want {
            return Err(LayerError::DiffId {
                layer,
                expected: want.into(),
                actual: got,
            });
        }
    }
    Ok(stats)
}
