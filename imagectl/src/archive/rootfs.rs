//! A directory tree as a tar stream, as `docker export` writes a
//! container's filesystem: names relative to the root (no `./`, dirs end in
//! `/`), owners, modes (with setuid/sticky bits), mtimes, xattrs (PAX
//! `SCHILY.xattr.*`), symlinks, hard links (the second path of an inode is
//! a link entry to the first), devices and fifos. Sockets are skipped
//! (tar cannot hold them). Nothing is followed: symlinks are written as
//! links, so a rootfs link to `/etc` never reads the host's.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{io_err, ArchiveError};

/// Counts of what was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct TreeStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Writes every path under `root` (not `root` itself) to `out`.
pub fn write_tree<W: Write>(root: &Path, out: W) -> Result<(W, TreeStats), ArchiveError> {
    let mut w = TreeWriter {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        stats: TreeStats::default(),
    };
    w.b.follow_symlinks(false);
    w.walk(root, "")?;
    let out = w.b.into_inner().map_err(io_err("finishing the tar"))?;
    Ok((out, w.stats))
}

struct TreeWriter<W: Write> {
    b: tar::Builder<W>,
    /// (dev, ino) of multiply-linked files already written → their name.
    links: HashMap<(u64, u64), String>,
    stats: TreeStats,
}

impl<W: Write> TreeWriter<W> {
    fn walk(&mut self, dir: &Path, rel: &str) -> Result<(), ArchiveError> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(io_err(dir.display().to_string()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir.display().to_string()))?;
        names.sort();
        for n in names {
            let p = dir.join(&n);
            let name = format!("{rel}{}", n.to_string_lossy());
            let m = fs::symlink_metadata(&p).map_err(io_err(p.display().to_string()))?;
            if self.entry(&p, &name, &m)? {
                self.walk(&p, &format!("{name}/"))?;
            }
        }
        Ok(())
    }

    /// Writes one entry; returns whether it is a directory to descend into.
    fn entry(&mut self, p: &Path, name: &str, m: &fs::Metadata) -> Result<bool, ArchiveError> {
        let ft = m.file_type();
        if ft.is_socket() {
            return Ok(false);
        }
        self.xattrs(p)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(m.uid().into());
        h.set_gid(m.gid().into());
        h.set_mtime(m.mtime().max(0) as u64);
        h.set_size(0);
        let what = || format!("writing {name}");
        self.stats.entries += 1;
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            self.b
                .append_data(&mut h, format!("{name}/"), io::empty())
                .map_err(io_err(what()))?;
            return Ok(true);
        }
        if ft.is_symlink() {
            let t = fs::read_link(p).map_err(io_err(p.display().to_string()))?;
            h.set_entry_type(tar::EntryType::Symlink);
            self.b
                .append_link(&mut h, name, t)
                .map_err(io_err(what()))?;
            return Ok(false);
        }
        if m.nlink() > 1 {
            let key = (m.dev(), m.ino());
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                self.b
                    .append_link(&mut h, name, first)
                    .map_err(io_err(what()))?;
                return Ok(false);
            }
            self.links.insert(key, name.to_string());
        }
        if ft.is_file() {
            let size = m.len();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            let f = File::open(p).map_err(io_err(p.display().to_string()))?;
            // A file that shrinks while a container runs is padded with
            // zeros, one that grows is cut: the header's size holds.
            let body = f.take(size).chain(io::repeat(0)).take(size);
            self.b
                .append_data(&mut h, name, body)
                .map_err(io_err(what()))?;
            self.stats.bytes += size;
            return Ok(false);
        }
        let (kind, dev) = if ft.is_char_device() {
            (tar::EntryType::Char, true)
        } else if ft.is_block_device() {
            (tar::EntryType::Block, true)
        } else {
            (tar::EntryType::Fifo, false)
        };
        h.set_entry_type(kind);
        if dev {
            let rdev = m.rdev();
            h.set_device_major(nix::sys::stat::major(rdev) as u32)
                .map_err(io_err(what()))?;
            h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
                .map_err(io_err(what()))?;
        }
        self.b
            .append_data(&mut h, name, io::empty())
            .map_err(io_err(what()))?;
        Ok(false)
    }

    /// Writes a PAX header with the path's xattrs (overlayfs's own
    /// `trusted.overlay.*` stay out).
    fn xattrs(&mut self, p: &Path) -> Result<(), ArchiveError> {
        let mut recs: Vec<(String, Vec<u8>)> = Vec::new();
        let names = match xattr::list(p) {
            Ok(n) => n,
            // Filesystems without xattrs, or symlinks where they are refused.
            Err(_) => return Ok(()),
        };
        for k in names {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("trusted.overlay.") {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(p, &k) {
                recs.push((format!("SCHILY.xattr.{k}"), v));
            }
        }
        if recs.is_empty() {
            return Ok(());
        }
        self.b
            .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(io_err(format!("xattrs of {}", p.display())))
    }
}
