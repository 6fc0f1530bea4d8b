//! Helpers for tests/unpack.rs: bounded tool runs, temp dirs that unmount
//! what is under them, images built with umoci or by hand, and a
//! comparator of two trees (lstat + llistxattr).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use crate::common::*;

use imagectl::store::Store;
use oci_spec::image::Descriptor;
use serde_json::{json, Value};

/// A layer blob for [`store_image`].
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: String,
    pub media_type: &'static str,
}

pub const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: format!("sha256:{}", sha256_hex(&tar)),
            blob: tar,
            media_type: TAR,
        }
    }

    pub fn gzip(tar: Vec<u8>) -> Layer {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        Layer {
            diff_id: format!("sha256:{}", sha256_hex(&tar)),
            blob: gz.finish().unwrap(),
            media_type: TAR_GZ,
        }
    }

    pub fn zstd(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: format!("sha256:{}", sha256_hex(&tar)),
            blob: zstd::stream::encode_all(&tar[..], 3).unwrap(),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    pub fn digest(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.blob))
    }
}

/// Writes `layers` (bottom first), a config with `exec` as its `config`,
/// and a manifest into `store`, named `name`.
pub fn store_image(store: &Store, name: &str, layers: &[Layer], exec: Value) -> Descriptor {
    let mut descs = Vec::new();
    for l in layers {
        let d = store.put_blob(&l.blob).unwrap();
        descs.push(
            json!({"mediaType": l.media_type, "digest": d.to_string(), "size": l.blob.len()}),
        );
    }
    let config = json!({
        "architecture": "amd64", "os": "linux", "config": exec,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    });
    let cbytes = serde_json::to_vec(&config).unwrap();
    let cd = store.put_blob(&cbytes).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cbytes.len()},
        "layers": descs,
    });
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let md = store.put_blob(&mbytes).unwrap();
    let desc: Descriptor = serde_json::from_value(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md.to_string(), "size": mbytes.len(),
    }))
    .unwrap();
    store.set_ref(name, &desc).unwrap();
    desc
}

/// A tar being built entry by entry, names written raw (the tar crate's
/// own setters refuse `..` and absolute paths, which the malicious cases
/// need).
pub struct TarBuilder(tar::Builder<Vec<u8>>);

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, name: &str, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_000_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let n = name.as_bytes();
        assert!(n.len() < 100, "short names only");
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h
    }

    fn link(h: &mut tar::Header, target: &str) {
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
    }

    pub fn dir(mut self, name: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, name, 0o755, 0);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    pub fn file(mut self, name: &str, body: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, name, 0o644, body.len() as u64);
        h.set_cksum();
        self.0.append(&h, body).unwrap();
        self
    }

    /// A file with PAX records (xattrs as `SCHILY.xattr.NAME`, `mtime`).
    pub fn file_pax(mut self, name: &str, body: &[u8], pax: &[(&str, &[u8])]) -> Self {
        self.0.append_pax_extensions(pax.iter().copied()).unwrap();
        let mut h = Self::header(tar::EntryType::Regular, name, 0o644, body.len() as u64);
        h.set_cksum();
        self.0.append(&h, body).unwrap();
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, name, 0o777, 0);
        Self::link(&mut h, target);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    pub fn hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, name, 0o644, 0);
        Self::link(&mut h, target);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// What the comparator sees of one path.
#[derive(Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub nlink: u64,
    pub target: Option<PathBuf>,
    pub content: Option<String>,
    pub mtime: Option<(i64, i64)>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Every path under `root` (relative; the root itself as "/", owner and
/// mode only).
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let m = fs::metadata(root).unwrap();
    out.insert(
        PathBuf::from("/"),
        Node {
            kind: "dir",
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            rdev: 0,
            nlink: 0,
            target: None,
            content: None,
            mtime: None,
            xattrs: BTreeMap::new(),
        },
    );
    walk(root, &mut out);
    out
}

fn walk(root: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    walk_tree(root, &mut |r, p, m| {
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        let mut xattrs = BTreeMap::new();
        for k in xattr::list(p).unwrap() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("trusted.overlay.") || k == "security.selinux" {
                continue;
            }
            xattrs.insert(k.clone(), xattr::get(p, &k).unwrap().unwrap_or_default());
        }
        out.insert(
            r.to_path_buf(),
            Node {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                rdev: m.rdev(),
                nlink: if ft.is_dir() { 0 } else { m.nlink() },
                target: ft.is_symlink().then(|| fs::read_link(p).unwrap()),
                content: ft.is_file().then(|| sha256_hex(&fs::read(p).unwrap())),
                mtime: ft.is_file().then(|| (m.mtime(), m.mtime_nsec())),
                xattrs,
            },
        );
    });
}

/// Asserts two trees are the same, listing every difference.
pub fn assert_same_tree(got: &Path, want: &Path) {
    let g = snapshot(got);
    let w = snapshot(want);
    let mut diffs = Vec::new();
    for (p, wn) in &w {
        match g.get(p) {
            None => diffs.push(format!("missing {}", p.display())),
            Some(gn) if gn != wn => {
                diffs.push(format!("{}: got {gn:?}\n  want {wn:?}", p.display()))
            }
            _ => {}
        }
    }
    for p in g.keys() {
        if !w.contains_key(p) {
            diffs.push(format!("extra {}", p.display()));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} vs {}:\n{}",
        got.display(),
        want.display(),
        diffs.join("\n")
    );
    assert!(w.len() > 10, "the reference tree is suspiciously small");
}
