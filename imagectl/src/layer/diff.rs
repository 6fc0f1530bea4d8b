//! A bundle's changes since unpack, as a list (`imagectl diff`) and as a
//! layer tar (`imagectl commit`).
//!
//! Both start from the lower layers: layer-cache directories in overlay
//! form (whiteouts are 0/0 char devices, opaque dirs carry
//! `trusted.overlay.opaque=y`), passed **bottom first** as the bundle
//! marker and [`crate::bundle::Bundle::layers`] list them. A path's lower
//! version is the one overlayfs would show: the topmost layer that has
//! it, unless a higher layer whites it out, hides it under an opaque
//! directory or has a non-directory where one of its parents would be.
//!
//! - overlay bundles: the upper dir *is* the change set. A path in upper
//!   that exists below is Changed, otherwise Added; a whiteout is
//!   Deleted; an opaque dir is Changed (or Added) plus Deleted for each
//!   lower child it no longer has. Directories that overlayfs copied up
//!   only because something inside them changed are Changed, as in
//!   `docker diff`.
//! - copy bundles: the rootfs is compared with the lower view. A path is
//!   Changed when its type, mode, owner, xattrs, link target or device
//!   differ, or (not for directories, whose mtime moves with their
//!   children) its size or mtime (seconds and nanoseconds). Content is not
//!   hashed: a file rewritten with the same size and its mtime put back
//!   counts as unchanged, as for rsync and umoci. A directory with a change
//!   below it is Changed too, so both kinds list the same paths.
//!
//! The layer tar has, in sorted order, each changed path (a directory
//! before its contents) with owner, mode, mtime, xattrs (not
//! `trusted.overlay.*`) and hard links kept within the layer; deletions
//! become `.wh.NAME` and opaque directories get `.wh..wh..opq` right
//! after their own entry. Sockets are skipped (tar cannot hold them).
//! Files are read as they are on disk: a running container's writes may
//! land half in, which a tar of a live tree cannot avoid (a file that
//! shrinks while read is padded with zeros to its stat size).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::apply::OVERLAY_OPAQUE;
use super::path::{OPAQUE_MARKER, WHITEOUT_PREFIX};

const OVERLAY_REDIRECT: &str = "trusted.overlay.redirect";
const OVERLAY_METACOPY: &str = "trusted.overlay.metacopy";
/// xattrs overlayfs keeps for itself: never copied into a layer.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    /// `A`, `C` or `D`, as `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute in the container: `/etc/x`.
    pub path: PathBuf,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path.display())
    }
}

/// What a layer tar holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Tar entries, whiteouts included.
    pub entries: u64,
    /// File content bytes.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: {what}: cannot be diffed (mount the overlay with redirect_dir=off,metacopy=off)"
    )]
    Unsupported { path: PathBuf, what: &'static str },
    #[error("writing layer tar at {path}: {source}")]
    Tar {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> DiffError {
    let path = path.to_path_buf();
    move |source| DiffError::Io { path, op, source }
}

/// One step of a change set, in tar order.
#[derive(Debug)]
enum Item {
    /// A path to write from `src` (in upper or the rootfs).
    Entry {
        rel: PathBuf,
        src: PathBuf,
        meta: Box<Metadata>,
        kind: ChangeKind,
        /// An overlay opaque dir: gets `.wh..wh..opq`.
        opaque: bool,
    },
    /// A deleted path: becomes `.wh.NAME`.
    Whiteout { rel: PathBuf },
    /// A lower child hidden by an opaque dir: listed, not written (the
    /// opaque marker deletes it).
    Hidden { rel: PathBuf },
}

impl Item {
    fn change(&self) -> Change {
        let (kind, rel) = match self {
            Item::Entry { rel, kind, .. } => (*kind, rel),
            Item::Whiteout { rel } | Item::Hidden { rel } => (ChangeKind::Deleted, rel),
        };
        Change {
            kind,
            path: Path::new("/").join(rel),
        }
    }
}

/// The lower view: layer dirs, top first.
struct Lowers<'a> {
    top_first: Vec<&'a Path>,
}

impl<'a> Lowers<'a> {
    fn new(bottom_first: &'a [PathBuf]) -> Self {
        Lowers {
            top_first: bottom_first.iter().rev().map(PathBuf::as_path).collect(),
        }
    }

    /// The path overlayfs would show for `rel`, with its metadata.
    fn lookup(&self, rel: &Path) -> Option<(PathBuf, Metadata)> {
        let comps: Vec<_> = rel.components().collect();
        let last = comps.len().checked_sub(1)?;
        for dir in &self.top_first {
            let mut p = dir.to_path_buf();
            let mut hides_below = false;
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                let Ok(m) = fs::symlink_metadata(&p) else {
                    break;
                };
                if is_whiteout(&m) {
                    return None;
                }
                if i == last {
                    return Some((p, m));
                }
                if !m.is_dir() {
                    return None;
                }
                hides_below |= is_opaque(&p);
            }
            if hides_below {
                return None;
            }
        }
        None
    }

    /// The names visible in lower directory `rel`.
    fn children(&self, rel: &Path) -> BTreeSet<OsString> {
        let mut names = BTreeSet::new();
        for dir in &self.top_first {
            if let Ok(rd) = fs::read_dir(dir.join(rel)) {
                names.extend(rd.flatten().map(|e| e.file_name()));
            }
        }
        names.retain(|n| self.lookup(&rel.join(n)).is_some());
        names
    }
}

fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    matches!(xattr::get(p, OVERLAY_OPAQUE), Ok(Some(v)) if v == b"y")
}

fn sorted_names(dir: &Path) -> Result<Vec<OsString>, DiffError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(io_at(dir, "read dir"))? {
        names.push(e.map_err(io_at(dir, "read dir"))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// The change set of an overlay upper dir.
fn overlay_items(
    upper: &Path,
    lowers: &Lowers,
    rel: &Path,
    out: &mut Vec<Item>,
) -> Result<(), DiffError> {
    for name in sorted_names(&upper.join(rel))? {
        let rel = rel.join(&name);
        let src = upper.join(&rel);
        let meta = fs::symlink_metadata(&src).map_err(io_at(&src, "stat"))?;
        let lower = lowers.lookup(&rel);
        if is_whiteout(&meta) {
            // overlayfs only whites out what is below; one that hides
            // nothing changes nothing.
            if lower.is_some() {
                out.push(Item::Whiteout { rel });
            }
            continue;
        }
        let kind = if lower.is_some() {
            ChangeKind::Changed
        } else {
            ChangeKind::Added
        };
        let dir = meta.is_dir();
        // A redirected dir or a metadata-only copy-up keeps its content
        // in a lower layer under another name: the upper entry alone
        // would make a wrong layer, so refuse rather than guess.
        let foreign = if dir {
            (
                OVERLAY_REDIRECT,
                "a renamed lower directory (overlayfs redirect_dir)",
            )
        } else {
            (
                OVERLAY_METACOPY,
                "a metadata-only copy-up (overlayfs metacopy)",
            )
        };
        if matches!(xattr::get(&src, foreign.0), Ok(Some(_))) {
            return Err(DiffError::Unsupported {
                path: src,
                what: foreign.1,
            });
        }
        let opaque = dir && is_opaque(&src);
        out.push(Item::Entry {
            rel: rel.clone(),
            src: src.clone(),
            meta: Box::new(meta),
            kind,
            opaque,
        });
        if opaque && lower.as_ref().is_some_and(|(_, m)| m.is_dir()) {
            let now: BTreeSet<OsString> = sorted_names(&src)?.into_iter().collect();
            for n in lowers.children(&rel) {
                if !now.contains(&n) {
                    out.push(Item::Hidden { rel: rel.join(n) });
                }
            }
        }
        if dir {
            overlay_items(upper, lowers, &rel, out)?;
        }
    }
    Ok(())
}

/// The change set of a plain rootfs against the lower view. Returns
/// whether anything below `rel` changed.
fn copy_items(
    root: &Path,
    lowers: &Lowers,
    rel: &Path,
    out: &mut Vec<Item>,
) -> Result<(), DiffError> {
    let here: Vec<OsString> = sorted_names(&root.join(rel))?;
    let mut names: BTreeSet<Vec<u8>> = here.iter().map(|n| n.as_bytes().to_vec()).collect();
    names.extend(lowers.children(rel).iter().map(|n| n.as_bytes().to_vec()));
    for name in names {
        let name = std::ffi::OsStr::from_bytes(&name);
        let rel = rel.join(name);
        let src = root.join(&rel);
        let lower = lowers.lookup(&rel);
        let meta = match fs::symlink_metadata(&src) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.push(Item::Whiteout { rel });
                continue;
            }
            Err(e) => return Err(io_at(&src, "stat")(e)),
        };
        if meta.file_type().is_socket() {
            continue;
        }
        let kind = match &lower {
            None => Some(ChangeKind::Added),
            Some((lp, lm)) => differs(&src, &meta, lp, lm)?.then_some(ChangeKind::Changed),
        };
        let at = out.len();
        if meta.is_dir() {
            copy_items(root, lowers, &rel, out)?;
        }
        // A directory goes in (before its contents) when it changed or
        // anything below it did.
        if let Some(kind) = kind.or((out.len() > at).then_some(ChangeKind::Changed)) {
            out.insert(
                at,
                Item::Entry {
                    rel,
                    src,
                    meta: Box::new(meta),
                    kind,
                    opaque: false,
                },
            );
        }
    }
    Ok(())
}

/// Whether the rootfs path differs from its lower version (see the
/// module docs for what counts).
fn differs(p: &Path, m: &Metadata, lp: &Path, lm: &Metadata) -> Result<bool, DiffError> {
    if m.mode() != lm.mode() || m.uid() != lm.uid() || m.gid() != lm.gid() {
        return Ok(true);
    }
    let ft = m.file_type();
    if !ft.is_dir()
        && (m.size() != lm.size() || m.mtime() != lm.mtime() || m.mtime_nsec() != lm.mtime_nsec())
    {
        return Ok(true);
    }
    if (ft.is_char_device() || ft.is_block_device()) && m.rdev() != lm.rdev() {
        return Ok(true);
    }
    if ft.is_symlink() && fs::read_link(p).ok() != fs::read_link(lp).ok() {
        return Ok(true);
    }
    Ok(xattrs(p)? != xattrs(lp)?)
}

/// A path's xattrs, overlayfs' own left out, sorted.
fn xattrs(p: &Path) -> Result<Vec<(OsString, Vec<u8>)>, DiffError> {
    let mut out = Vec::new();
    let names = match xattr::list(p) {
        Ok(n) => n,
        // A filesystem without xattrs has none to keep.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(io_at(p, "list xattrs")(e)),
    };
    for n in names {
        if n.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Some(v) = xattr::get(p, &n).map_err(io_at(p, "get xattr"))? {
            out.push((n, v));
        }
    }
    out.sort();
    Ok(out)
}

/// Changes in an overlay upper dir against the lower layers (bottom
/// first), sorted by path.
pub fn overlay_changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, DiffError> {
    let mut items = Vec::new();
    overlay_items(upper, &Lowers::new(lowers), Path::new(""), &mut items)?;
    Ok(sorted_changes(&items))
}

/// The layer tar of [`overlay_changes`] into `out`.
pub fn overlay_layer(
    upper: &Path,
    lowers: &[PathBuf],
    out: &mut dyn Write,
) -> Result<DiffStats, DiffError> {
    let mut items = Vec::new();
    overlay_items(upper, &Lowers::new(lowers), Path::new(""), &mut items)?;
    write_tar(&items, out)
}

/// Changes in a plain rootfs (a `--copy` bundle) against the image's
/// layers in overlay form (layer-cache dirs, bottom first), sorted.
pub fn copy_changes(rootfs: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, DiffError> {
    let mut items = Vec::new();
    copy_items(rootfs, &Lowers::new(lowers), Path::new(""), &mut items)?;
    Ok(sorted_changes(&items))
}

/// The layer tar of [`copy_changes`] into `out`.
pub fn copy_layer(
    rootfs: &Path,
    lowers: &[PathBuf],
    out: &mut dyn Write,
) -> Result<DiffStats, DiffError> {
    let mut items = Vec::new();
    copy_items(rootfs, &Lowers::new(lowers), Path::new(""), &mut items)?;
    write_tar(&items, out)
}

fn sorted_changes(items: &[Item]) -> Vec<Change> {
    let mut v: Vec<Change> = items.iter().map(Item::change).collect();
    v.sort_by(|a, b| {
        a.path
            .as_os_str()
            .as_bytes()
            .cmp(b.path.as_os_str().as_bytes())
    });
    v
}

/// Writes the tar of a change set.
fn write_tar(items: &[Item], out: &mut dyn Write) -> Result<DiffStats, DiffError> {
    let mut t = TarOut {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        stats: DiffStats::default(),
    };
    for it in items {
        match it {
            Item::Entry {
                rel,
                src,
                meta,
                opaque,
                ..
            } => {
                t.entry(rel, src, meta)?;
                if *opaque {
                    t.marker(&rel.join(OPAQUE_MARKER), Some(meta))?;
                }
            }
            Item::Whiteout { rel } => {
                let name = rel.file_name().expect("a changed path has a name");
                let mut wh = OsString::from(WHITEOUT_PREFIX);
                wh.push(name);
                t.marker(&rel.with_file_name(wh), None)?;
            }
            Item::Hidden { .. } => {}
        }
    }
    t.b.finish().map_err(|source| DiffError::Tar {
        path: PathBuf::from("(end)"),
        source,
    })?;
    Ok(t.stats)
}

struct TarOut<'a> {
    b: tar::Builder<&'a mut dyn Write>,
    /// (dev, ino) of multiply-linked files written so far, and their path.
    links: HashMap<(u64, u64), PathBuf>,
    stats: DiffStats,
}

impl TarOut<'_> {
    fn entry(&mut self, rel: &Path, src: &Path, m: &Metadata) -> Result<(), DiffError> {
        use tar::EntryType;
        let terr = |source| DiffError::Tar {
            path: rel.to_path_buf(),
            source,
        };
        let ft = m.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let x = xattrs(src)?;
        if !x.is_empty() {
            self.pax_xattrs(rel, &x).map_err(terr)?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(u64::from(m.uid()));
        h.set_gid(u64::from(m.gid()));
        h.set_mtime(m.mtime().max(0) as u64);
        h.set_size(0);
        self.stats.entries += 1;
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            return self.b.append_data(&mut h, rel, io::empty()).map_err(terr);
        }
        if ft.is_symlink() {
            let target = fs::read_link(src).map_err(io_at(src, "readlink"))?;
            h.set_entry_type(EntryType::Symlink);
            return self.b.append_link(&mut h, rel, target).map_err(terr);
        }
        if ft.is_file() {
            if m.nlink() > 1 {
                let key = (m.dev(), m.ino());
                if let Some(first) = self.links.get(&key) {
                    h.set_entry_type(EntryType::Link);
                    let first = first.clone();
                    return self.b.append_link(&mut h, rel, first).map_err(terr);
                }
                self.links.insert(key, rel.to_path_buf());
            }
            let f = File::open(src).map_err(io_at(src, "open"))?;
            h.set_entry_type(EntryType::Regular);
            h.set_size(m.len());
            self.stats.bytes += m.len();
            let data = Exact {
                inner: f.take(m.len()),
                left: m.len(),
            };
            return self.b.append_data(&mut h, rel, data).map_err(terr);
        }
        let (kind, dev) = if ft.is_char_device() {
            (EntryType::Char, true)
        } else if ft.is_block_device() {
            (EntryType::Block, true)
        } else {
            (EntryType::Fifo, false)
        };
        h.set_entry_type(kind);
        if dev {
            let (maj, min) = dev_numbers(m.rdev());
            h.set_device_major(maj).map_err(terr)?;
            h.set_device_minor(min).map_err(terr)?;
        }
        self.b.append_data(&mut h, rel, io::empty()).map_err(terr)
    }

    /// An empty regular file: a `.wh.` whiteout or the opaque marker. It
    /// takes the owner and mtime of `like` when given (docker: those of
    /// the whiteout device), root and the epoch otherwise.
    fn marker(&mut self, rel: &Path, like: Option<&Metadata>) -> Result<(), DiffError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        if let Some(m) = like {
            h.set_uid(u64::from(m.uid()));
            h.set_gid(u64::from(m.gid()));
            h.set_mtime(m.mtime().max(0) as u64);
        }
        self.stats.entries += 1;
        self.b
            .append_data(&mut h, rel, io::empty())
            .map_err(|source| DiffError::Tar {
                path: rel.to_path_buf(),
                source,
            })
    }

    /// A PAX extended header with `SCHILY.xattr.NAME` records, which
    /// applies to the entry that follows.
    fn pax_xattrs(&mut self, rel: &Path, x: &[(OsString, Vec<u8>)]) -> io::Result<()> {
        let mut data = Vec::new();
        for (k, v) in x {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k.as_bytes());
            data.extend(pax_record(&key, v));
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        // The name of an extended header is informational only.
        let base = rel.file_name().map_or(&b"x"[..], |n| n.as_bytes());
        let mut name = b"PaxHeaders/".to_vec();
        name.extend_from_slice(&base[..base.len().min(80)]);
        h.as_old_mut().name[..name.len()].copy_from_slice(&name);
        h.set_cksum();
        self.b.append(&h, &data[..])
    }
}

/// One PAX record: `LEN KEY=VALUE\n`, LEN counting itself.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut r = format!("{len} ").into_bytes();
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Linux's dev_t split (glibc's gnu_dev_major/minor).
fn dev_numbers(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Exactly `left` bytes: a file that shrank while read is padded with
/// zeros, so the tar stays well-formed.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let cap = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let mut n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            buf[..cap].fill(0);
            n = cap;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "imagectl-diff-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn put(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    fn lines(v: &[Change]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    fn tar_names(bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let p = e.path().unwrap().to_string_lossy().into_owned();
                let t = e.header().entry_type();
                let tag = if t.is_dir() {
                    "/"
                } else if t.is_hard_link() {
                    " (link)"
                } else if t.is_symlink() {
                    " (symlink)"
                } else {
                    ""
                };
                format!("{}{tag}", p.trim_end_matches('/'))
            })
            .collect()
    }

    /// A copy rootfs and the same tree as a one-layer lower.
    fn copy_pair(tag: &str) -> (PathBuf, PathBuf, PathBuf) {
        let d = tmp(tag);
        let lower = d.join("lower");
        let root = d.join("root");
        for r in [&lower, &root] {
            put(r, "etc/keep", "k");
            put(r, "etc/change", "old");
            put(r, "etc/gone", "g");
            put(r, "data/a", "a");
            put(r, "data/b", "b");
            symlink("keep", r.join("etc/link")).unwrap();
        }
        // The same mtimes, as two extractions of one tar would have.
        for rel in ["etc/keep", "etc/change", "etc/gone", "data/a", "data/b"] {
            let m = fs::metadata(lower.join(rel)).unwrap();
            let t = m.modified().unwrap();
            File::options()
                .write(true)
                .open(root.join(rel))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let lm = fs::symlink_metadata(lower.join("etc/link")).unwrap();
        let t = nix::sys::time::TimeVal::new(lm.mtime(), 0);
        nix::sys::stat::lutimes(&lower.join("etc/link"), &t, &t).unwrap();
        nix::sys::stat::lutimes(&root.join("etc/link"), &t, &t).unwrap();
        (d, lower, root)
    }

    #[test]
    fn copy_changes_list_only_what_changed() {
        let (d, lower, root) = copy_pair("copy");
        assert!(copy_changes(&root, std::slice::from_ref(&lower))
            .unwrap()
            .is_empty());
        fs::write(root.join("etc/change"), "new!").unwrap();
        fs::remove_file(root.join("etc/gone")).unwrap();
        put(&root, "etc/new", "n");
        fs::remove_dir_all(root.join("data")).unwrap();
        let c = copy_changes(&root, std::slice::from_ref(&lower)).unwrap();
        assert_eq!(
            lines(&c),
            [
                "D /data",
                "C /etc",
                "C /etc/change",
                "D /etc/gone",
                "A /etc/new"
            ]
        );
        let mut tar = Vec::new();
        let st = copy_layer(&root, &[lower], &mut tar).unwrap();
        assert_eq!(
            tar_names(&tar),
            [".wh.data", "etc/", "etc/change", "etc/.wh.gone", "etc/new"]
        );
        assert_eq!(st.entries, 5);
        assert_eq!(st.bytes, 5);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn lower_lookup_honours_whiteouts_and_opaque_dirs() {
        let d = tmp("lookup");
        let (l1, l2) = (d.join("l1"), d.join("l2"));
        put(&l1, "a/x", "1");
        put(&l1, "b/y", "1");
        put(&l1, "c", "1");
        fs::create_dir_all(l2.join("b")).unwrap();
        put(&l2, "a/z", "2");
        let lowers = [l1.clone(), l2.clone()];
        let lw = Lowers::new(&lowers);
        assert!(lw.lookup(Path::new("a/x")).is_some());
        assert!(lw.lookup(Path::new("a/z")).is_some());
        assert_eq!(
            lw.children(Path::new("a")).into_iter().collect::<Vec<_>>(),
            ["x", "z"]
        );
        // Root may not mknod or set trusted.* here (unit tests need no
        // root); when it can, check the overlay markers too.
        let can = nix::sys::stat::mknod(
            &l2.join("c"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .is_ok()
            && xattr::set(l2.join("b"), OVERLAY_OPAQUE, b"y").is_ok();
        if can {
            assert!(lw.lookup(Path::new("c")).is_none());
            assert!(lw.lookup(Path::new("b/y")).is_none());
            assert!(lw.children(Path::new("b")).is_empty());
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn overlay_upper_is_classified_against_lowers() {
        let d = tmp("overlay");
        let (lower, upper) = (d.join("lower"), d.join("upper"));
        put(&lower, "etc/passwd", "root");
        put(&lower, "etc/hosts", "h");
        put(&lower, "opt/old1", "o");
        put(&lower, "opt/old2", "o");
        put(&upper, "etc/passwd", "root2");
        put(&upper, "etc/new", "n");
        put(&upper, "opt/fresh", "f");
        fs::hard_link(upper.join("etc/new"), upper.join("etc/new2")).unwrap();
        let root_can = nix::sys::stat::mknod(
            &upper.join("etc/hosts"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .is_ok()
            && xattr::set(upper.join("opt"), OVERLAY_OPAQUE, b"y").is_ok();
        let lowers = [lower];
        let c = lines(&overlay_changes(&upper, &lowers).unwrap());
        let mut tar = Vec::new();
        overlay_layer(&upper, &lowers, &mut tar).unwrap();
        let names = tar_names(&tar);
        if root_can {
            assert_eq!(
                c,
                [
                    "C /etc",
                    "D /etc/hosts",
                    "A /etc/new",
                    "A /etc/new2",
                    "C /etc/passwd",
                    "C /opt",
                    "A /opt/fresh",
                    "D /opt/old1",
                    "D /opt/old2"
                ]
            );
            assert_eq!(
                names,
                [
                    "etc/",
                    "etc/.wh.hosts",
                    "etc/new",
                    "etc/new2 (link)",
                    "etc/passwd",
                    "opt/",
                    "opt/.wh..wh..opq",
                    "opt/fresh"
                ]
            );
        } else {
            assert_eq!(
                c,
                [
                    "C /etc",
                    "A /etc/new",
                    "A /etc/new2",
                    "C /etc/passwd",
                    "C /opt",
                    "A /opt/fresh"
                ]
            );
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn xattrs_travel_in_pax_headers_but_overlay_ones_do_not() {
        let d = tmp("xattr");
        let (lower, upper) = (d.join("lower"), d.join("upper"));
        fs::create_dir_all(&lower).unwrap();
        put(&upper, "d/f", "f");
        let tagged = xattr::set(upper.join("d/f"), "user.test", b"v1").is_ok()
            && xattr::set(upper.join("d"), OVERLAY_OPAQUE, b"y").is_ok();
        let mut tar = Vec::new();
        overlay_layer(&upper, &[lower], &mut tar).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for x in exts {
                    let x = x.unwrap();
                    seen.push(format!("{p} {}={}", x.key().unwrap(), x.value().unwrap()));
                }
            }
        }
        if tagged {
            assert_eq!(seen, ["d/f SCHILY.xattr.user.test=v1"]);
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_redirected_upper_dir_is_refused() {
        let d = tmp("redirect");
        let (lower, upper) = (d.join("lower"), d.join("upper"));
        put(&lower, "a/x", "x");
        fs::create_dir_all(upper.join("b")).unwrap();
        if xattr::set(upper.join("b"), OVERLAY_REDIRECT, b"/a").is_ok() {
            let e = overlay_changes(&upper, &[lower]).unwrap_err();
            assert!(matches!(e, DiffError::Unsupported { .. }), "{e}");
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record(b"k", b"v"), b"6 k=v\n");
        // 9 bytes of payload: the length digit makes it 10, two digits.
        let r = pax_record(b"key", b"vvvv");
        assert_eq!(r, b"12 key=vvvv\n");
        assert_eq!(r.len(), 12);
    }

    #[test]
    fn dev_numbers_split_like_glibc() {
        assert_eq!(dev_numbers(0x0103), (1, 3));
        assert_eq!(dev_numbers((259u64 << 8) | 2), (259, 2));
        assert_eq!(dev_numbers(0), (0, 0));
    }
}
