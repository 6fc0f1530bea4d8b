//! Applying one layer tar onto a directory, safely.
//!
//! Every entry's path is split into components ([`super::path`]) and
//! walked from a directory fd of the root, one `openat(O_NOFOLLOW |
//! O_DIRECTORY)` per component, so no entry can reach outside the root:
//! `..` and absolute names are refused up front, and a parent that is a
//! symlink (`link -> /tmp/x`, then `link/file`) stops the walk with an
//! error instead of being followed. Hard-link targets are walked the same
//! way. Everything is then created with `*at` calls relative to the
//! parent's fd.
//!
//! Two forms ([`Form`]): `Overlay` keeps whiteouts as overlayfs markers
//! (0/0 char devices, `trusted.overlay.opaque=y`) in a directory that
//! holds this layer alone; `Merged` applies the layer onto the layers
//! below it (a whiteout deletes, an opaque marker empties the directory of
//! what lower layers put there).
//!
//! Metadata order matters: owner before mode (chown clears setuid and
//! file capabilities), mode before xattrs (so `security.capability`
//! survives), and directory mtimes last, once nothing more is created in
//! them.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode,
    SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;
use xattr::FileExt;

use super::path::{components, display, whiteout, Whiteout};
use super::LayerError;

/// The overlayfs xattr that marks a directory opaque.
pub const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";
/// xattrs a layer may not set: they steer overlayfs itself.
const FORBIDDEN_XATTR_PREFIX: &str = "trusted.overlay.";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// How whiteouts are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// This layer alone, in overlayfs form (the layer cache).
    Overlay,
    /// Onto the layers below it (a `--copy` rootfs).
    Merged,
}

/// Why one entry failed, before the entry's name is attached.
enum Fail {
    Traversal(String),
    Io(&'static str, io::Error),
}

impl From<nix::Error> for Fail {
    fn from(e: nix::Error) -> Self {
        Fail::Io("syscall", io::Error::from_raw_os_error(e as i32))
    }
}

fn op(what: &'static str) -> impl FnOnce(nix::Error) -> Fail {
    move |e| Fail::Io(what, io::Error::from_raw_os_error(e as i32))
}

fn iop(what: &'static str) -> impl FnOnce(io::Error) -> Fail {
    move |e| Fail::Io(what, e)
}

/// An entry's metadata, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// What a layer held, for the caller's log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

/// Applies the tar stream `tar` onto `root` (an existing directory).
/// `layer` names the layer in errors (its digest). Reads the stream only
/// up to the end-of-archive marker; the caller drains the rest.
pub fn apply<R: Read>(tar: R, root: &Path, form: Form, layer: &str) -> Result<Stats, LayerError> {
    let root_fd = openat(
        nix::fcntl::AT_FDCWD,
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::Io {
        layer: layer.into(),
        entry: root.display().to_string(),
        op: "open root",
        source: io::Error::from_raw_os_error(e as i32),
    })?;
    let mut a = Applier {
        root: root_fd,
        form,
        dirs: Vec::new(),
        this_layer: HashSet::new(),
        stats: Stats::default(),
    };
    let mut archive = tar::Archive::new(tar);
    let corrupt = |e: io::Error| LayerError::Corrupt {
        layer: layer.into(),
        detail: e.to_string(),
    };
    for e in archive.entries().map_err(corrupt)? {
        let mut e = e.map_err(corrupt)?;
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        a.entry(&mut e).map_err(|f| match f {
            Fail::Traversal(why) => LayerError::Traversal {
                layer: layer.into(),
                entry: name.clone(),
                why,
            },
            // A read error in the middle of an entry is a damaged stream.
            Fail::Io("read", source) => LayerError::Corrupt {
                layer: layer.into(),
                detail: format!("{name}: {source}"),
            },
            Fail::Io(op, source) => LayerError::Io {
                layer: layer.into(),
                entry: name.clone(),
                op,
                source,
            },
        })?;
    }
    a.finish_dirs();
    Ok(a.stats)
}

struct Applier {
    root: OwnedFd,
    form: Form,
    /// Directories whose times are set once the layer is done.
    dirs: Vec<(Vec<OsString>, TimeSpec, TimeSpec)>,
    /// Paths this layer created: an opaque marker hides only lower ones.
    this_layer: HashSet<Vec<OsString>>,
    stats: Stats,
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn is_symlink(dir: &OwnedFd, name: &OsStr) -> bool {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK)
        .unwrap_or(false)
}

/// An overlayfs whiteout: a 0/0 character device.
fn is_whiteout(dir: &OwnedFd, name: &OsStr) -> bool {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
                && st.st_rdev == 0
        })
        .unwrap_or(false)
}

/// `/proc/self/fd/N/name`: a path whose prefix is the (already safely
/// opened) directory, for the calls that have no fd form (lsetxattr,
/// remove_dir_all). Only the final component is looked up by name.
fn via_fd(dir: &OwnedFd, name: &OsStr) -> PathBuf {
    Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

impl Applier {
    /// The directory at `comps`, walked without following symlinks;
    /// missing directories are made (0755, as other unpackers do) when
    /// `create`.
    fn walk(&self, comps: &[OsString], create: bool) -> Result<OwnedFd, Fail> {
        let mut cur = self.root.try_clone().map_err(iop("dup"))?;
        for (i, c) in comps.iter().enumerate() {
            let next = match openat(&cur, c.as_os_str(), dir_flags(), Mode::empty()) {
                Ok(fd) => fd,
                Err(nix::Error::ENOENT) if create => {
                    mkdirat(&cur, c.as_os_str(), Mode::from_bits_truncate(0o755))
                        .map_err(op("mkdir"))?;
                    let fd = openat(&cur, c.as_os_str(), dir_flags(), Mode::empty())
                        .map_err(op("open"))?;
                    // 0755 whatever the umask, as every unpacker does.
                    fchmod(&fd, Mode::from_bits_truncate(0o755)).map_err(op("chmod"))?;
                    fd
                }
                Err(nix::Error::ENOTDIR | nix::Error::ELOOP) if is_symlink(&cur, c) => {
                    return Err(Fail::Traversal(format!(
                        "{} is a symlink: entries are not written through symlinks",
                        display(&comps[..=i])
                    )));
                }
                Err(e) => return Err(op("open parent")(e)),
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Removes `name` in `dir`, whatever it is; false when absent.
    fn remove(&self, dir: &OwnedFd, name: &OsStr) -> Result<bool, Fail> {
        let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(nix::Error::ENOENT) => return Ok(false),
            Err(e) => return Err(op("stat")(e)),
        };
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
            // std's remove_dir_all walks with openat and does not follow
            // symlinks inside the tree.
            std::fs::remove_dir_all(via_fd(dir, name)).map_err(iop("remove"))?;
        } else {
            unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(op("unlink"))?;
        }
        Ok(true)
    }

    fn is_dir(dir: &OwnedFd, name: &OsStr) -> bool {
        fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
            .unwrap_or(false)
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> Result<(), Fail> {
        self.stats.entries += 1;
        let kind = e.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw = e.path_bytes().into_owned();
        let comps = components(&raw).map_err(|u| Fail::Traversal(u.describe().into()))?;
        let meta = meta(e).map_err(iop("read"))?;
        let Some((name, parent)) = comps.split_last() else {
            // The root itself (`./`): only its metadata.
            if kind == EntryType::Directory {
                let f = File::from(self.root.try_clone().map_err(iop("dup"))?);
                self.set_fd_meta(&f, &meta)?;
                self.dirs.push((Vec::new(), meta.atime, meta.mtime));
            }
            return Ok(());
        };
        let wh = whiteout(name);
        // Onto lower layers, a whiteout or opaque marker under a directory
        // that is not there has nothing to hide: make nothing.
        let create = self.form == Form::Overlay || wh == Whiteout::No;
        let pfd = match self.walk(parent, create) {
            Ok(fd) => fd,
            Err(Fail::Io(_, e)) if !create && e.raw_os_error() == Some(libc::ENOENT) => {
                return Ok(())
            }
            Err(f) => return Err(f),
        };
        match wh {
            Whiteout::Reserved => return Ok(()),
            Whiteout::Opaque => return self.opaque(parent, pfd),
            Whiteout::Remove(target) => {
                self.remove(&pfd, target)?;
                if self.form == Form::Overlay {
                    mknodat(&pfd, target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                        .map_err(op("mknod whiteout"))?;
                }
                return Ok(());
            }
            Whiteout::No => {}
        }
        let name = name.as_os_str();
        match kind {
            EntryType::Directory => self.make_dir(&pfd, name, &comps, &meta)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.make_file(e, &pfd, name, &meta)?
            }
            EntryType::Symlink => {
                let target = e.link_name_bytes().unwrap_or_default().into_owned();
                self.remove(&pfd, name)?;
                symlinkat(OsStr::from_bytes(&target), &pfd, name).map_err(op("symlink"))?;
                self.set_at_meta(&pfd, name, &meta, false)?;
            }
            EntryType::Link => {
                let target = e.link_name_bytes().unwrap_or_default().into_owned();
                if !self.make_hardlink(&pfd, name, &comps, &target)? {
                    return Ok(());
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    EntryType::Char => (SFlag::S_IFCHR, dev_of(e)?),
                    EntryType::Block => (SFlag::S_IFBLK, dev_of(e)?),
                    _ => (SFlag::S_IFIFO, 0),
                };
                self.remove(&pfd, name)?;
                mknodat(&pfd, name, sflag, Mode::from_bits_truncate(0o600), dev)
                    .map_err(op("mknod"))?;
                self.set_at_meta(&pfd, name, &meta, true)?;
            }
            other => {
                return Err(Fail::Io(
                    "unsupported entry type",
                    io::Error::other(format!("tar entry type {other:?}")),
                ))
            }
        }
        self.this_layer.insert(comps);
        Ok(())
    }

    fn make_dir(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        comps: &[OsString],
        meta: &Meta,
    ) -> Result<(), Fail> {
        // A directory over this layer's own whiteout of the name replaces
        // the lower one: in overlay form that is an opaque directory, or
        // the lower contents would show.
        let mut opaque = false;
        if !Self::is_dir(pfd, name) {
            opaque = self.form == Form::Overlay && is_whiteout(pfd, name);
            self.remove(pfd, name)?;
            mkdirat(pfd, name, Mode::from_bits_truncate(0o700)).map_err(op("mkdir"))?;
        }
        let d = File::from(openat(pfd, name, dir_flags(), Mode::empty()).map_err(op("open"))?);
        self.set_fd_meta(&d, meta)?;
        if opaque {
            d.set_xattr(OVERLAY_OPAQUE, b"y")
                .map_err(iop("set opaque xattr"))?;
        }
        self.dirs.push((comps.to_vec(), meta.atime, meta.mtime));
        Ok(())
    }

    fn make_file<R: Read>(
        &mut self,
        e: &mut tar::Entry<R>,
        pfd: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), Fail> {
        self.remove(pfd, name)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(pfd, name, flags, Mode::from_bits_truncate(0o600)).map_err(op("create"))?;
        let mut f = File::from(fd);
        self.stats.bytes += copy(e, &mut f)?;
        self.set_fd_meta(&f, meta)?;
        futimens(&f, &meta.atime, &meta.mtime).map_err(op("set times"))
    }

    /// A hard link to `target` (a path in the archive, walked like any
    /// entry's, so it cannot name a file outside the root). False when
    /// the entry links to itself and was skipped.
    fn make_hardlink(
        &self,
        pfd: &OwnedFd,
        name: &OsStr,
        comps: &[OsString],
        target: &[u8],
    ) -> Result<bool, Fail> {
        let tcomps = components(target)
            .map_err(|u| Fail::Traversal(format!("hard link target: {}", u.describe())))?;
        let Some((tname, tparent)) = tcomps.split_last() else {
            return Err(Fail::Traversal("hard link to the root".into()));
        };
        if tcomps == comps {
            return Ok(false);
        }
        let tfd = self.walk(tparent, false).map_err(|f| match f {
            Fail::Io(_, e) => Fail::Io("hard link target", e),
            t => t,
        })?;
        self.remove(pfd, name)?;
        linkat(&tfd, tname.as_os_str(), pfd, name, AtFlags::empty()).map_err(op(
            "hard link (its target must be an earlier entry of the layer)",
        ))?;
        Ok(true)
    }

    /// `.wh..wh..opq` in `parent`.
    fn opaque(&mut self, parent: &[OsString], pfd: OwnedFd) -> Result<(), Fail> {
        let d = File::from(pfd);
        match self.form {
            Form::Overlay => d
                .set_xattr(OVERLAY_OPAQUE, b"y")
                .map_err(iop("set opaque xattr")),
            Form::Merged => {
                let rd = std::fs::read_dir(format!("/proc/self/fd/{}", d.as_raw_fd()))
                    .map_err(iop("read dir"))?;
                let dfd = OwnedFd::from(d);
                for child in rd {
                    let child = child.map_err(iop("read dir"))?.file_name();
                    let mut p = parent.to_vec();
                    p.push(child.clone());
                    if !self.this_layer.contains(&p) {
                        self.remove(&dfd, &child)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Owner, mode, xattrs of an open file or directory.
    fn set_fd_meta(&self, f: &File, m: &Meta) -> Result<(), Fail> {
        fchown(
            f.as_fd(),
            Some(Uid::from_raw(m.uid)),
            Some(Gid::from_raw(m.gid)),
        )
        .map_err(op("chown"))?;
        fchmod(f.as_fd(), Mode::from_bits_truncate(m.mode)).map_err(op("chmod"))?;
        for (k, v) in &m.xattrs {
            f.set_xattr(k, v).map_err(iop("set xattr"))?;
        }
        Ok(())
    }

    /// The same for a symlink or device node, by name in its directory.
    fn set_at_meta(&self, dir: &OwnedFd, name: &OsStr, m: &Meta, chmod: bool) -> Result<(), Fail> {
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(m.uid)),
            Some(Gid::from_raw(m.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(op("chown"))?;
        if chmod {
            // Only for device nodes and fifos, which this layer just made:
            // following is moot.
            fchmodat(
                dir,
                name,
                Mode::from_bits_truncate(m.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(op("chmod"))?;
        }
        for (k, v) in &m.xattrs {
            // lsetxattr: the final component is not followed.
            xattr::set(via_fd(dir, name), k, v).map_err(iop("set xattr"))?;
        }
        utimensat(
            dir,
            name,
            &m.atime,
            &m.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(op("set times"))?;
        Ok(())
    }

    /// Directory times, deepest last-made first; a directory a later
    /// whiteout removed is skipped.
    fn finish_dirs(&mut self) {
        for (comps, at, mt) in self.dirs.iter().rev() {
            match comps.split_last() {
                None => {
                    let _ = futimens(&self.root, at, mt);
                }
                Some((name, parent)) => {
                    if let Ok(pfd) = self.walk(parent, false) {
                        let _ = utimensat(
                            &pfd,
                            name.as_os_str(),
                            at,
                            mt,
                            UtimensatFlags::NoFollowSymlink,
                        );
                    }
                }
            }
        }
    }
}

fn copy<R: Read>(e: &mut tar::Entry<R>, f: &mut File) -> Result<u64, Fail> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut n = 0u64;
    loop {
        let k = match e.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Fail::Io("read", err)),
        };
        io::Write::write_all(f, &buf[..k]).map_err(iop("write"))?;
        n += k as u64;
    }
}

fn dev_of<R: Read>(e: &tar::Entry<R>) -> Result<nix::libc::dev_t, Fail> {
    let h = e.header();
    let maj = h.device_major().map_err(iop("read"))?.unwrap_or(0);
    let min = h.device_minor().map_err(iop("read"))?.unwrap_or(0);
    Ok(makedev(maj.into(), min.into()))
}

/// `"1700000000.123456789"` (a PAX time) as a TimeSpec.
pub(crate) fn pax_time(s: &str) -> Option<TimeSpec> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    Some(TimeSpec::new(secs, nanos))
}

fn meta<R: Read>(e: &mut tar::Entry<R>) -> io::Result<Meta> {
    let h = e.header();
    let mtime = TimeSpec::new(h.mtime()? as i64, 0);
    let mut m = Meta {
        mode: h.mode()? & 0o7777,
        uid: h.uid()? as u32,
        gid: h.gid()? as u32,
        atime: mtime,
        mtime,
        xattrs: Vec::new(),
    };
    let mut atime = None;
    if let Some(exts) = e.pax_extensions()? {
        for x in exts {
            let x = x?;
            let Ok(k) = x.key() else { continue };
            let v = x.value_bytes();
            let vs = std::str::from_utf8(v).unwrap_or("");
            if let Some(name) = k.strip_prefix(PAX_XATTR_PREFIX) {
                if !name.starts_with(FORBIDDEN_XATTR_PREFIX) {
                    m.xattrs.push((name.into(), v.to_vec()));
                }
                continue;
            }
            match k {
                "uid" => m.uid = vs.parse().unwrap_or(m.uid),
                "gid" => m.gid = vs.parse().unwrap_or(m.gid),
                "mtime" => m.mtime = pax_time(vs).unwrap_or(m.mtime),
                "atime" => atime = pax_time(vs),
                _ => {}
            }
        }
    }
    m.atime = atime.unwrap_or(m.mtime);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_with_nanoseconds() {
        assert_eq!(pax_time("12"), Some(TimeSpec::new(12, 0)));
        assert_eq!(pax_time("12.5"), Some(TimeSpec::new(12, 500_000_000)));
        assert_eq!(
            pax_time("12.1234567891"),
            Some(TimeSpec::new(12, 123_456_789))
        );
        assert_eq!(pax_time("x"), None);
        assert_eq!(pax_time("1.x"), None);
    }
}
