//! Writing blobs: bytes are hashed as they arrive, into a temp file under
//! `tmp/`; `commit` checks digest and size, syncs, and renames the file to
//! `blobs/sha256/<hex>`. Dropping an uncommitted writer removes the file.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

use super::{io_at, Store, StoreError};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique path in `dir` for this process.
pub(crate) fn temp_path(dir: &Path, what: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{what}-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` by temp file + fsync + rename.
pub(crate) fn write_atomic(store: &Store, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(store.root());
    let tmp = temp_path(dir, "write");
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(io_at(path))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest's bytes.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A writer (or reader) that hashes (sha256) and counts what passes
/// through it: the uncompressed side of a layer being made or applied, an
/// archive member.
pub(crate) struct Hashing<W> {
    pub inner: W,
    pub hasher: Sha256,
    pub written: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// `sha256:<hex>` of everything written.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex(&self.hasher.clone().finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
}

/// An in-progress blob write. Implements [`Write`].
#[derive(Debug)]
pub struct BlobWriter {
    blobs: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    written: u64,
    expected: Option<Digest>,
    size: Option<u64>,
}

impl BlobWriter {
    pub(super) fn new(
        store: &Store,
        expected: Option<Digest>,
        size: Option<u64>,
    ) -> Result<Self, StoreError> {
        if let Some(d) = &expected {
            store.blob_path(d)?;
        }
        let tmp = temp_path(&store.tmp_dir(), "blob");
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        Ok(BlobWriter {
            blobs: store.root().join("blobs/sha256"),
            tmp,
            file: Some(file),
            hasher: Sha256::new(),
            written: 0,
            expected,
            size,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies and publishes the blob; returns its digest.
    pub fn commit(mut self) -> Result<Digest, StoreError> {
        let actual = hex(&self.hasher.clone().finalize());
        let file = self.file.take().expect("file is present until commit");
        if let Some(d) = &self.expected {
            let want = d.to_string();
            if want != format!("sha256:{actual}") {
                return Err(StoreError::DigestMismatch {
                    expected: want,
                    actual,
                });
            }
        }
        if let Some(size) = self.size {
            if size != self.written {
                return Err(StoreError::SizeMismatch {
                    digest: format!("sha256:{actual}"),
                    expected: size,
                    actual: self.written,
                });
            }
        }
        file.sync_all().map_err(io_at(&self.tmp))?;
        drop(file);
        let dest = self.blobs.join(&actual);
        fs::rename(&self.tmp, &dest).map_err(io_at(&dest))?;
        Digest::from_str(&format!("sha256:{actual}")).map_err(|e| StoreError::Corrupt {
            path: dest,
            detail: e.to_string(),
        })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self.file.as_mut().expect("file is present until commit");
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Uncommitted (or failed): nothing may stay behind.
        if self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::*;

    #[test]
    fn a_verified_blob_is_published_under_its_digest() {
        let (s, dir) = temp_store("blob-ok");
        let hex = sha256_hex(b"hello");
        let d = Digest::from_str(&format!("sha256:{hex}")).unwrap();
        let mut w = s.blob_writer(&d, Some(5)).unwrap();
        w.write_all(b"hel").unwrap();
        w.write_all(b"lo").unwrap();
        assert_eq!(w.commit().unwrap(), d);
        assert_eq!(s.read_blob(&d).unwrap(), b"hello");
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lying_source_leaves_nothing_behind() {
        let (s, dir) = temp_store("blob-bad");
        let d = Digest::from_str(&format!("sha256:{}", sha256_hex(b"hello"))).unwrap();
        let mut w = s.blob_writer(&d, None).unwrap();
        w.write_all(b"jello").unwrap();
        let e = w.commit().unwrap_err().to_string();
        assert!(e.contains("lied"), "{e}");
        assert!(!s.has_blob(&d));
        let mut w = s.blob_writer(&d, Some(9)).unwrap();
        w.write_all(b"hello").unwrap();
        assert!(matches!(w.commit(), Err(StoreError::SizeMismatch { .. })));
        let w = s.blob_writer(&d, None).unwrap();
        drop(w);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.join("blobs/sha256")).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn put_blob_returns_the_content_digest() {
        let (s, dir) = temp_store("blob-put");
        let d = s.put_blob(b"{}").unwrap();
        assert_eq!(d.to_string(), format!("sha256:{}", sha256_hex(b"{}")));
        fs::remove_dir_all(dir).unwrap();
    }
}
