//! Reading an archive from a stream, in one pass (stdin cannot seek, and
//! `docker save` may put `manifest.json` last): every entry is staged by
//! its kind, then [`Staged::kind`] says which format it was.
//!
//! - `blobs/sha256/<hex>` (an OCI layout, also inside Docker 25+ archives)
//!   goes straight into the store, verified against its name;
//! - small metadata (`*.json`, `repositories`, `oci-layout`, `VERSION`,
//!   `<id>/json`) is kept in memory;
//! - a docker-archive layer whose diff_id is already known (manifest.json
//!   and the config came first, as `imagectl save` writes them) goes
//!   straight into the store, verified against the diff_id;
//! - anything else (a layer before its manifest, as `docker save` orders
//!   them) goes to a temp file under the store's tmp dir, hashed as it is
//!   written;
//! - symlinks and hard links inside the archive are kept as aliases,
//!   resolved within the archive (docker writes a duplicate layer as a
//!   symlink to the first).
//!
//! Names are refused when absolute or when they climb out with `..`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::str::FromStr;

use oci_spec::image::Digest;

use super::docker::ManifestEntry;
use super::{io_err, ArchiveError, Hashing, TempFile};
use crate::layer::compression::Compression;
use crate::store::{Store, StoreError};

/// Metadata files larger than this are not metadata.
const SMALL_LIMIT: u64 = 64 << 20;

/// One staged entry.
#[derive(Debug)]
pub enum Entry {
    /// A blob now in the store.
    Blob(Digest),
    /// A large file in the tmp dir, with its `sha256:<hex>` and size.
    Temp {
        file: TempFile,
        digest: String,
        size: u64,
    },
    Small(Vec<u8>),
    /// Another entry's (normalised) name.
    Alias(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    Oci,
    Unknown,
}

/// A whole archive, staged.
#[derive(Debug, Default)]
pub struct Staged {
    pub entries: BTreeMap<String, Entry>,
}

impl Staged {
    /// docker-archive when `manifest.json` or a legacy `repositories` is
    /// there (Docker 25+ writes an OCI layout beside `manifest.json`: the
    /// docker view keeps the tags as docker wrote them), else oci-archive
    /// when `index.json` is.
    pub fn kind(&self) -> Kind {
        if self.entries.contains_key("manifest.json") || self.entries.contains_key("repositories") {
            Kind::Docker
        } else if self.entries.contains_key("index.json") {
            Kind::Oci
        } else {
            Kind::Unknown
        }
    }

    /// Follows aliases (at most 16 hops) to the entry `name` means.
    pub fn get(&self, name: &str) -> Result<&Entry, ArchiveError> {
        let mut n = normalise(name).ok_or_else(|| ArchiveError::Refused {
            entry: name.into(),
            why: "the name leaves the archive",
        })?;
        for _ in 0..16 {
            match self.entries.get(&n) {
                Some(Entry::Alias(t)) => n = t.clone(),
                Some(e) => return Ok(e),
                None => return Err(ArchiveError::Missing(name.into())),
            }
        }
        Err(ArchiveError::Corrupt(format!("{name}: link loop")))
    }

    /// A small file's bytes.
    pub fn small(&self, name: &str) -> Result<&[u8], ArchiveError> {
        match self.get(name)? {
            Entry::Small(b) => Ok(b),
            _ => Err(ArchiveError::Corrupt(format!(
                "{name}: expected a small metadata file"
            ))),
        }
    }

    /// Parses a small JSON file.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ArchiveError> {
        serde_json::from_slice(self.small(name)?)
            .map_err(|e| ArchiveError::Corrupt(format!("{name}: {e}")))
    }
}

/// `a/./b/` → `a/b`; `None` when absolute or climbing out.
pub fn normalise(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// The name a symlink at `at` pointing to `target` means, inside the
/// archive; `None` when it leaves it.
fn resolve_link(at: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = at.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn is_small_name(n: &str) -> bool {
    let base = n.rsplit('/').next().unwrap_or(n);
    base.ends_with(".json") || matches!(base, "repositories" | "oci-layout" | "VERSION" | "json")
}

fn blob_digest(n: &str) -> Option<Digest> {
    let hex = n.strip_prefix("blobs/sha256/")?;
    (hex.len() == 64 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| Digest::from_str(&format!("sha256:{hex}")).ok())
        .flatten()
}

/// The tar crate's message, on one line and short (it may quote the
/// garbage it found in a header).
fn tar_err(e: io::Error) -> ArchiveError {
    let s = e.to_string();
    let line: String = s
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect();
    if e.kind() == io::ErrorKind::UnexpectedEof || line.contains("EOF") {
        return ArchiveError::Tar(format!("truncated: {line}"));
    }
    ArchiveError::Tar(line)
}

/// A short entry means the stream ended inside it.
fn check_len(name: &str, got: u64, want: u64) -> Result<(), ArchiveError> {
    if got == want {
        return Ok(());
    }
    Err(ArchiveError::Tar(format!(
        "truncated: {name} ends after {got} of its {want} bytes"
    )))
}

/// Reads the whole archive from `input`, staging each entry.
pub fn stage<R: Read>(store: &Store, input: R) -> Result<Staged, ArchiveError> {
    let mut ar = tar::Archive::new(input);
    let mut staged = Staged::default();
    let mut count = 0usize;
    let mut expect: HashMap<String, String> = HashMap::new();
    for e in ar.entries().map_err(tar_err)? {
        let mut e = e.map_err(tar_err)?;
        count += 1;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let name = normalise(&raw).ok_or(ArchiveError::Refused {
            entry: raw.clone(),
            why: "the name leaves the archive",
        })?;
        let kind = e.header().entry_type();
        let entry = match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let t = e
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let target = if kind == tar::EntryType::Symlink {
                    resolve_link(&name, &t)
                } else {
                    normalise(&t)
                };
                Entry::Alias(target.ok_or(ArchiveError::Refused {
                    entry: raw.clone(),
                    why: "the link leaves the archive",
                })?)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                stage_file(store, &mut e, &name, expect.get(&name).map(String::as_str))?
            }
            // Devices, fifos: nothing an image archive needs.
            _ => continue,
        };
        let meta = matches!(entry, Entry::Small(_)) && name.ends_with(".json");
        staged.entries.insert(name, entry);
        if meta {
            expect = expectations(&staged);
        }
    }
    if count == 0 {
        return Err(ArchiveError::Tar("empty archive".into()));
    }
    Ok(staged)
}

/// Layer name → diff_id, for every docker-archive layer whose manifest
/// entry and config are staged already.
fn expectations(staged: &Staged) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Ok(manifest) = staged.json::<Vec<ManifestEntry>>("manifest.json") else {
        return out;
    };
    for m in manifest {
        let Ok(config) = staged.json::<serde_json::Value>(&m.config) else {
            continue;
        };
        let diffs = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if diffs.len() != m.layers.len() {
            continue;
        }
        for (l, d) in m.layers.iter().zip(diffs) {
            if let (Some(l), Some(d)) = (normalise(l), d.as_str()) {
                out.insert(l, d.to_string());
            }
        }
    }
    out
}

fn stage_file<R: Read>(
    store: &Store,
    e: &mut tar::Entry<R>,
    name: &str,
    diff: Option<&str>,
) -> Result<Entry, ArchiveError> {
    let size = e.header().size().map_err(tar_err)?;
    if let Some(d) = blob_digest(name) {
        if !store.has_blob(&d) {
            let mut w = store.blob_writer(&d, Some(size))?;
            let n = io::copy(e, &mut w).map_err(tar_err)?;
            check_len(name, n, size)?;
            w.commit()?;
        }
        return Ok(Entry::Blob(d));
    }
    if is_small_name(name) && size <= SMALL_LIMIT {
        let mut b = Vec::with_capacity(size as usize);
        e.read_to_end(&mut b).map_err(tar_err)?;
        check_len(name, b.len() as u64, size)?;
        return Ok(Entry::Small(b));
    }
    let mut e = BufReader::with_capacity(1 << 20, e);
    let head = e.fill_buf().map_err(tar_err)?;
    let plain = Compression::detect("", head) == Ok(Compression::None);
    if let (Some(diff), true) = (diff.and_then(|d| Digest::from_str(d).ok()), plain) {
        if !store.has_blob(&diff) {
            let mut w = store.blob_writer(&diff, Some(size))?;
            let n = io::copy(&mut e, &mut w).map_err(tar_err)?;
            check_len(name, n, size)?;
            w.commit().map_err(|err| match err {
                StoreError::DigestMismatch { actual, .. } => ArchiveError::DiffId {
                    layer: name.into(),
                    expected: diff.to_string(),
                    actual: format!("sha256:{actual}"),
                },
                err => err.into(),
            })?;
        }
        return Ok(Entry::Blob(diff));
    }
    let file = TempFile::new(store, "entry");
    let f = File::create(&file.0).map_err(io_err(file.0.display().to_string()))?;
    let mut h = Hashing::new(BufWriter::with_capacity(1 << 20, f));
    let n = io::copy(&mut e, &mut h).map_err(tar_err)?;
    check_len(name, n, size)?;
    h.flush().map_err(io_err(file.0.display().to_string()))?;
    let digest = h.digest();
    Ok(Entry::Temp {
        file,
        digest,
        size: h.written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(normalise("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalise("../x"), None);
        assert_eq!(normalise("a/../../x"), None);
        assert_eq!(normalise("/etc/passwd"), None);
    }

    #[test]
    fn symlinks_resolve_inside_the_archive() {
        assert_eq!(
            resolve_link("b/layer.tar", "../a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(resolve_link("b/layer.tar", "../../x"), None);
        assert_eq!(resolve_link("b/layer.tar", "/x"), None);
    }

    #[test]
    fn blob_names_need_a_full_hex_digest() {
        assert!(blob_digest(&format!("blobs/sha256/{}", "a".repeat(64))).is_some());
        assert!(blob_digest("blobs/sha256/abc").is_none());
        assert!(blob_digest(&format!("blobs/sha512/{}", "a".repeat(64))).is_none());
    }
}
