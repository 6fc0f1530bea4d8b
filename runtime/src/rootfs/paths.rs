//! Resolving paths inside the container's rootfs without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT) on an fd of the rootfs,
//! so `..` and symlinks (absolute, relative, chained) resolve as if the rootfs
//! were `/`. Missing components are created with mkdirat/openat relative to
//! an fd that was itself resolved safely, never by joining strings. Mounts
//! then target the returned fd through its /proc/self/fd magic link, so a
//! path swapped after the lookup cannot redirect them.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::spec::plan::clean_absolute;
use crate::sys::fs::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

/// `path` relative to the root (`/a/b` -> `a/b`, `/` -> `.`).
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens `path` (a container path) under `root` as an O_PATH fd.
pub fn open_in_root(root: &impl AsRawFd, path: &Path) -> io::Result<OwnedFd> {
    openat2(
        root,
        &relative(path),
        libc::O_PATH,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// Opens `path` under `root` with real open flags (to read, write, create).
pub fn open_in_root_with(
    root: &impl AsRawFd,
    path: &Path,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    openat2(
        root,
        &relative(path),
        flags,
        mode,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// The path through which mount(2) reaches the object behind `fd`.
pub fn proc_fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// What to create when a mount target does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Makes sure `path` exists inside `root` (creating directories along the way
/// and the last component as `kind`), and returns an O_PATH fd to it.
///
/// A dangling symlink on the way is followed the way the kernel would inside
/// the root: its target is created instead, still inside the root.
pub fn ensure(root: &impl AsRawFd, path: &Path, kind: Kind) -> io::Result<OwnedFd> {
    ensure_depth(root, &clean_absolute(path), kind, 0)
}

/// The kernel's own limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

fn ensure_depth(root: &impl AsRawFd, path: &Path, kind: Kind, depth: usize) -> io::Result<OwnedFd> {
    if depth > MAX_LINKS {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    match open_in_root(root, path) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
        Err(_) => {}
    }
    let names: Vec<_> = relative(path)
        .components()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut parent = open_in_root(root, Path::new("/"))?;
    let mut so_far = PathBuf::from("/");
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        so_far.push(name);
        match open_in_root(root, &so_far) {
            Ok(fd) => parent = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if let Ok(target) = nix::fcntl::readlinkat(parent.as_fd(), name.as_os_str()) {
                    let base = if Path::new(&target).is_absolute() {
                        PathBuf::from("/")
                    } else {
                        so_far.parent().unwrap_or(Path::new("/")).to_path_buf()
                    };
                    let mut next = base.join(target);
                    next.extend(&names[i + 1..]);
                    return ensure_depth(root, &clean_absolute(&next), kind, depth + 1);
                }
                create_in(&parent, name, if last { kind } else { Kind::Dir })?;
                parent = open_in_root(root, &so_far)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(parent)
}

fn create_in(parent: &OwnedFd, name: &std::ffi::OsStr, kind: Kind) -> io::Result<()> {
    // The parent is an O_PATH fd; mkdirat/openat accept it as a directory fd.
    let res = match kind {
        Kind::Dir => nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755))
            .map(|_| ()),
        Kind::File => nix::fcntl::openat(
            parent.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
    };
    match res {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let d = tempfile::tempdir().unwrap();
        let fd = nix::fcntl::open(
            d.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (d, fd)
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(proc_fd_path(fd)).unwrap()
    }

    #[test]
    fn absolute_symlink_stays_in_root() {
        let (d, fd) = root();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), d.path().join("evil")).unwrap();
        let t = ensure(&fd, Path::new("/evil/target"), Kind::Dir).unwrap();
        let got = real(&t);
        assert!(got.starts_with(d.path()), "{got:?} escaped the root");
        assert!(!outside.path().join("target").exists());
    }

    #[test]
    fn relative_dotdot_symlink_stays_in_root() {
        let (d, fd) = root();
        std::fs::create_dir(d.path().join("a")).unwrap();
        symlink("../../../../../../tmp", d.path().join("a/up")).unwrap();
        let t = ensure(&fd, Path::new("/a/up/x"), Kind::File).unwrap();
        let got = real(&t);
        assert_eq!(got, d.path().join("tmp/x"));
    }

    #[test]
    fn chained_symlinks_stay_in_root() {
        let (d, fd) = root();
        symlink("/l2", d.path().join("l1")).unwrap();
        symlink("/etc/../..", d.path().join("l2")).unwrap();
        let t = ensure(&fd, Path::new("/l1/mnt"), Kind::Dir).unwrap();
        assert_eq!(real(&t), d.path().join("mnt"));
    }

    #[test]
    fn dotdot_in_the_path_stays_in_root() {
        let (d, fd) = root();
        let t = ensure(&fd, Path::new("/../../x/y"), Kind::Dir).unwrap();
        assert_eq!(real(&t), d.path().join("x/y"));
    }

    #[test]
    fn file_kind_creates_a_file() {
        let (d, fd) = root();
        ensure(&fd, Path::new("/etc/resolv.conf"), Kind::File).unwrap();
        assert!(d.path().join("etc/resolv.conf").is_file());
        assert!(d.path().join("etc").is_dir());
    }
}
