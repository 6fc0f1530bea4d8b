//! The image store: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`) under one root, plus what only imagectl needs beside it:
//! `tmp/` (blobs being written, on the same filesystem so that committing
//! is a rename), `layers/` (the unpacked-layer cache, see
//! [`crate::layer`]) and two lock files.
//!
//! Contract:
//! - a blob is visible under its digest only once its bytes were hashed as
//!   they were written and matched ([`BlobWriter::commit`]); a failed or
//!   abandoned write leaves nothing in `blobs/`;
//! - `index.json` changes are read-modify-write under an exclusive lock and
//!   land by rename, so concurrent imagectl processes never lose a name;
//! - users hold [`Store::use_lock`] (shared) for as long as they write blobs
//!   not yet named, and `gc` takes it exclusively, so it never removes a
//!   blob a running pull is about to name.
//!
//! Names are full normalised references
//! ([`crate::reference::Reference`]) in each manifest descriptor's
//! `org.opencontainers.image.ref.name` annotation.

mod blobs;
mod gc;
mod index;

pub(crate) use blobs::{hex, Hashing};
pub use blobs::{sha256_hex, BlobWriter};
pub use gc::GcReport;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{Descriptor, Digest};

/// The annotation that carries an image's name in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("blob {expected}: content has digest sha256:{actual} (the source lied or the download was damaged)")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {digest}: {actual} bytes where {expected} were announced")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("unsupported digest algorithm in {0} (the store keeps sha256)")]
    Algorithm(String),
    #[error("blob {0} is not in the store")]
    MissingBlob(String),
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One image layout on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] Flock<File>);

impl Store {
    /// `/var/lib/imagectl` for root, `$XDG_DATA_HOME/imagectl` (or
    /// `~/.local/share/imagectl`) otherwise.
    pub fn default_root() -> PathBuf {
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/imagectl");
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("imagectl");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        PathBuf::from(home).join(".local/share/imagectl")
    }

    /// Opens the layout at `root`, creating it when missing.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let s = Store {
            root: root.to_path_buf(),
        };
        for d in [s.root.join("blobs/sha256"), s.tmp_dir(), s.layers_dir()] {
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        let layout = s.root.join("oci-layout");
        if !layout.exists() {
            blobs::write_atomic(&s, &layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !s.index_path().exists() {
            let _g = s.index_lock()?;
            if !s.index_path().exists() {
                index::write(&s, &index::empty())?;
            }
        }
        Ok(s)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where [`crate::layer`] keeps unpacked layers, one dir per blob digest.
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// Shared "in use" lock: hold it while writing blobs that are not named
    /// yet (pull, build, load) or reading layers (unpack).
    pub fn use_lock(&self) -> Result<StoreLock, StoreError> {
        self.lock_file("use.lock", FlockArg::LockShared)
    }

    fn index_lock(&self) -> Result<StoreLock, StoreError> {
        self.lock_file("index.lock", FlockArg::LockExclusive)
    }

    fn lock_file(&self, name: &str, how: FlockArg) -> Result<StoreLock, StoreError> {
        let p = self.root.join(name);
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_at(&p))?;
        Flock::lock(f, how)
            .map(StoreLock)
            .map_err(|(_, e)| io_at(&p)(e.into()))
    }

    /// `blobs/sha256/<hex>`; only sha256 is kept.
    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        let s = digest.to_string();
        match s.split_once(':') {
            Some(("sha256", hex)) => Ok(self.root.join("blobs/sha256").join(hex)),
            _ => Err(StoreError::Algorithm(s)),
        }
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(digest)?;
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.to_string()),
            _ => io_at(&p)(e),
        })
    }

    /// A whole (small) blob: a manifest, an index, a config.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.to_string()),
            _ => io_at(&p)(e),
        })
    }

    /// Starts writing a blob that must hash to `expected` (and be
    /// `size` bytes long, when known).
    pub fn blob_writer(
        &self,
        expected: &Digest,
        size: Option<u64>,
    ) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(self, Some(expected.clone()), size)
    }

    /// Starts writing a blob whose digest is whatever it hashes to, learned
    /// at [`BlobWriter::commit`] (a layer being compressed as it is made).
    pub fn blob_writer_any(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(self, None, None)
    }

    /// Writes bytes whose digest is whatever they hash to; returns it.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let mut w = BlobWriter::new(self, None, Some(bytes.len() as u64))?;
        io::Write::write_all(&mut w, bytes).map_err(io_at(&self.tmp_dir()))?;
        w.commit()
    }

    /// Every named manifest: (name, descriptor), in index order.
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        Ok(index::read(self)?
            .manifests()
            .iter()
            .filter_map(|d| Some((index::name_of(d)?.to_string(), d.clone())))
            .collect())
    }

    /// The descriptor named `name` (a full reference string).
    pub fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(self
            .refs()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d))
    }

    /// Names `desc` (replacing what had the name before). The blob must be
    /// in the store.
    pub fn set_ref(&self, name: &str, desc: &Descriptor) -> Result<(), StoreError> {
        if !self.has_blob(desc.digest()) {
            return Err(StoreError::MissingBlob(desc.digest().to_string()));
        }
        let _g = self.index_lock()?;
        let mut idx = index::read(self)?;
        index::set(&mut idx, name, desc);
        index::write(self, &idx)
    }

    /// Drops a name; returns whether it was there.
    pub fn remove_ref(&self, name: &str) -> Result<bool, StoreError> {
        let _g = self.index_lock()?;
        let mut idx = index::read(self)?;
        let had = index::remove(&mut idx, name);
        if had {
            index::write(self, &idx)?;
        }
        Ok(had)
    }

    /// Removes every blob and unpacked layer no name reaches, and abandoned
    /// temp files. Waits for users of the store to finish.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        gc::run(self)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn temp_store(tag: &str) -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "imagectl-store-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        (Store::open(&dir).unwrap(), dir)
    }

    #[test]
    fn open_makes_a_valid_empty_layout() {
        let (s, dir) = temp_store("open");
        let layout: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("oci-layout")).unwrap()).unwrap();
        assert_eq!(layout["imageLayoutVersion"], "1.0.0");
        let idx: serde_json::Value =
            serde_json::from_slice(&fs::read(s.index_path()).unwrap()).unwrap();
        assert_eq!(idx["schemaVersion"], 2);
        assert_eq!(idx["manifests"].as_array().unwrap().len(), 0);
        Store::open(&dir).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }
}
