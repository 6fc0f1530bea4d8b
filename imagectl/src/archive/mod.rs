//! Image archives, both ways: docker-archive (what `docker save` writes:
//! `manifest.json`, `repositories`, `<id>/layer.tar`, the config as
//! `<hex>.json`; [`docker`]) and oci-archive (a tar of an OCI image layout;
//! [`oci`]); [`detect`] reads any archive from a stream into the store's
//! temp space and says which it is; [`rootfs`] writes a directory tree as a
//! tar (`imagectl export`).
//!
//! Boundary: archives are read and written as tar streams; no layer is held
//! in memory. Loading verifies every blob (by digest, and layers against the
//! config's diff_ids) before the first name is set, under
//! [`Store::use_lock`], so a bad archive leaves no name behind and
//! its unnamed blobs go with the next gc.

pub mod detect;
pub mod docker;
pub mod oci;
pub mod rootfs;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use oci_spec::image::{Descriptor, Digest};

use crate::image::{self, Image, ImageError};
use crate::platform::Platform;
use crate::reference::{self, Reference};
use crate::store::{Store, StoreError};

/// containerd's name annotation (a full reference), read by `ctr import`.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("archive: entry {entry:?}: refused: {why}")]
    Refused { entry: String, why: &'static str },
    #[error("archive: not a readable tar: {0}")]
    Tar(String),
    #[error("archive: {0}")]
    Corrupt(String),
    #[error("archive: {0} is referenced but not in the archive")]
    Missing(String),
    #[error("archive: layer {layer}: content is {actual}, the image config says {expected}")]
    DiffId {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("archive: neither manifest.json (docker-archive) nor index.json (oci-archive) found")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::Io { what, source }
}

/// Which archive `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `docker save` layout (manifest.json + repositories), layers uncompressed.
    DockerArchive,
    /// A tar of an OCI image layout, blobs as stored.
    OciArchive,
}

/// One image to save and the names it goes under.
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub image: Image,
    pub names: Vec<Reference>,
}

/// Opens each of `what` (names or id prefixes) and groups names that are
/// the same image, in the order given.
pub fn select(
    store: &Store,
    what: &[String],
    platform: &Platform,
) -> Result<Vec<SaveItem>, ArchiveError> {
    let mut items: Vec<SaveItem> = Vec::new();
    for w in what {
        let img = image::open(store, w, platform)?;
        let name = match &img.name {
            Some(n) => Some(reference::parse(n)?),
            None => None,
        };
        match items
            .iter_mut()
            .find(|i| i.image.manifest_digest == img.manifest_digest)
        {
            Some(i) => i.names.extend(name.filter(|n| !i.names.contains(n))),
            None => items.push(SaveItem {
                names: name.into_iter().collect(),
                image: img,
            }),
        }
    }
    Ok(items)
}

/// Writes `items` to `out` as `format`.
pub fn save<W: Write>(
    store: &Store,
    items: &[SaveItem],
    format: Format,
    out: W,
) -> Result<W, ArchiveError> {
    let _g = store.use_lock()?;
    match format {
        Format::DockerArchive => docker::save(store, items, out),
        Format::OciArchive => oci::save(store, items, out),
    }
}

/// What one loaded image became.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config digest.
    pub id: Digest,
    pub names: Vec<String>,
}

/// Reads an archive (either format, detected) from `input` into `store`
/// and names its images. Nothing is named unless everything verified.
pub fn load<R: Read>(store: &Store, input: R) -> Result<Vec<Loaded>, ArchiveError> {
    let _g = store.use_lock()?;
    let staged = detect::stage(store, input)?;
    let plan = match staged.kind() {
        detect::Kind::Docker => docker::load(store, &staged)?,
        detect::Kind::Oci => oci::load(store, &staged)?,
        detect::Kind::Unknown => return Err(ArchiveError::Unknown),
    };
    for (name, desc) in plan.names.iter() {
        store.set_ref(name, desc)?;
    }
    Ok(plan.loaded)
}

/// Names to set once everything verified, and what to report.
#[derive(Debug, Default)]
pub struct Plan {
    pub names: BTreeMap<String, Descriptor>,
    pub loaded: Vec<Loaded>,
}

/// The full name an archive name stands for (`busybox` →
/// `docker.io/library/busybox:latest`).
pub(crate) fn full_name(s: &str) -> Result<String, ArchiveError> {
    Ok(reference::parse(s)?.to_string())
}

/// The name an image gets when the archive gives it none: docker leaves
/// such an image dangling, but the store keeps only what a name reaches.
pub(crate) fn untagged_name(id: &Digest) -> String {
    format!("localhost/{}:latest", &id.digest()[..12])
}

/// `docker save`'s form of a name: familiar name + tag.
pub(crate) fn familiar(r: &Reference) -> String {
    format!(
        "{}:{}",
        r.familiar_name(),
        r.tag.as_deref().unwrap_or(reference::DEFAULT_TAG)
    )
}

/// A descriptor from its parts.
pub(crate) fn descriptor(
    media_type: &str,
    digest: &Digest,
    size: u64,
    annotations: Option<BTreeMap<String, String>>,
) -> Descriptor {
    let mut v = serde_json::json!({
        "mediaType": media_type, "digest": digest.to_string(), "size": size,
    });
    if let Some(a) = annotations.filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    serde_json::from_value(v).expect("a descriptor from valid parts")
}

/// A temp file under the store's tmp dir, removed on drop.
#[derive(Debug)]
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(store: &Store, what: &str) -> TempFile {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TempFile(
            store
                .tmp_dir()
                .join(format!(".archive-{what}-{}-{n}", std::process::id())),
        )
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A writer that hashes what passes through it (the store's).
pub(crate) use crate::store::Hashing;

/// A tar header for an archive's own (regular) file.
pub(crate) fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Appends a small file.
pub(crate) fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    let mut h = file_header(bytes.len() as u64);
    b.append_data(&mut h, name, bytes)
        .map_err(io_err(format!("writing {name}")))
}

/// Appends a directory entry.
pub(crate) fn append_dir<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
) -> Result<(), ArchiveError> {
    let mut h = file_header(0);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    b.append_data(&mut h, name, io::empty())
        .map_err(io_err(format!("writing {name}")))
}

/// Appends a stored blob as `name`, streamed from the store.
pub(crate) fn append_blob<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    name: &str,
    digest: &Digest,
) -> Result<(), ArchiveError> {
    let f = store.open_blob(digest)?;
    let size = f
        .metadata()
        .map_err(io_err(format!("blob {digest}")))?
        .len();
    let mut h = file_header(size);
    b.append_data(&mut h, name, f)
        .map_err(io_err(format!("writing {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    /// A one-layer image (gzip layer) named `name`; returns its id.
    fn image(store: &Store, name: &str) -> Digest {
        let mut t = tar::Builder::new(Vec::new());
        append_bytes(&mut t, "etc/hello", b"hello").unwrap();
        let tar = t.into_inner().unwrap();
        let diff = format!("sha256:{}", crate::store::sha256_hex(&tar));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let ld = store.put_blob(&gz).unwrap();
        let cfg = serde_json::json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff]}})
        .to_string();
        let cd = store.put_blob(cfg.as_bytes()).unwrap();
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": docker::OCI_MANIFEST,
            "config": descriptor(docker::OCI_CONFIG, &cd, cfg.len() as u64, None),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &ld, gz.len() as u64, None)]})
        .to_string();
        let md = store.put_blob(m.as_bytes()).unwrap();
        store
            .set_ref(
                name,
                &descriptor(docker::OCI_MANIFEST, &md, m.len() as u64, None),
            )
            .unwrap();
        cd
    }

    #[test]
    fn both_formats_round_trip_with_names_and_id() {
        for format in [Format::DockerArchive, Format::OciArchive] {
            let (a, da) = temp_store(&format!("arch-a-{format:?}"));
            let (b, db) = temp_store(&format!("arch-b-{format:?}"));
            let id = image(&a, "docker.io/library/hello:1");
            image(&a, "localhost:5000/x/y:2");
            let what = ["hello:1".to_string(), "localhost:5000/x/y:2".to_string()];
            let items = select(&a, &what, &Platform::host()).unwrap();
            assert_eq!(items.len(), 1, "one image, two names");
            let bytes = save(&a, &items, format, Vec::new()).unwrap();
            let loaded = load(&b, &bytes[..]).unwrap();
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[0].id, id);
            let mut names: Vec<String> = b.refs().unwrap().into_iter().map(|(n, _)| n).collect();
            names.sort();
            assert_eq!(names, ["docker.io/library/hello:1", "localhost:5000/x/y:2"]);
            let img = image::open(&b, "hello:1", &Platform::host()).unwrap();
            let diff = img.config.rootfs().diff_ids()[0].clone();
            if format == Format::DockerArchive {
                // Layers come out and back uncompressed: digest = diff_id.
                assert_eq!(img.manifest.layers()[0].digest().to_string(), diff);
            }
            std::fs::remove_dir_all(da).unwrap();
            std::fs::remove_dir_all(db).unwrap();
        }
    }

    #[test]
    fn familiar_names_are_what_docker_save_writes() {
        let r = |s: &str| reference::parse(s).unwrap();
        assert_eq!(familiar(&r("busybox")), "busybox:latest");
        assert_eq!(familiar(&r("docker.io/me/app:2")), "me/app:2");
        assert_eq!(familiar(&r("localhost:5000/x:1")), "localhost:5000/x:1");
        assert_eq!(
            full_name("busybox:latest").unwrap(),
            "docker.io/library/busybox:latest"
        );
    }
}
