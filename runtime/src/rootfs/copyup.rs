//! The `tmpcopyup` mount option: a tmpfs mounted over a directory starts with
//! a copy of what the directory held. The original is read through an fd
//! opened before the mount (the tmpfs hides it from path lookups); every step
//! is relative to directory fds and never follows a symlink, so the copy can
//! neither read nor write outside the two trees.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};

/// Copies the tree under `from` into `to` (both directory fds), keeping
/// modes, owners, symlinks and device nodes.
pub fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    copy_dir(from, to, 0)
}

/// Deeper trees than this are not plausible mount targets; stop instead of
/// exhausting fds.
const MAX_DEPTH: usize = 128;

fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other("tmpcopyup: directory tree too deep"));
    }
    let dup: OwnedFd = from.try_clone_to_owned()?;
    let mut dir = Dir::from_fd(dup)?;
    let names: Vec<(std::ffi::CString, Option<Type>)> = dir
        .iter()
        .filter_map(Result::ok)
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .map(|e| (e.file_name().to_owned(), e.file_type()))
        .collect();
    for (name, _) in names {
        let name = name.as_c_str();
        let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        if kind == SFlag::S_IFDIR {
            mkdirat(to, name, mode)?;
            let src = nix::fcntl::openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let dst = nix::fcntl::openat(
                to,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            copy_dir(src.as_fd(), dst.as_fd(), depth + 1)?;
        } else if kind == SFlag::S_IFREG {
            let src = nix::fcntl::openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let dst = nix::fcntl::openat(
                to,
                name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                mode,
            )?;
            io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst))?;
        } else if kind == SFlag::S_IFLNK {
            let target = nix::fcntl::readlinkat(from, name)?;
            nix::unistd::symlinkat(target.as_os_str(), to, name)?;
        } else {
            mknodat(to, name, kind, mode, st.st_rdev)?;
        }
        fchownat(
            to,
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if kind != SFlag::S_IFLNK {
            // creation was subject to the umask; restore the exact mode.
            fchmodat(to, name, mode, FchmodatFlags::NoFollowSymlink).or_else(|e| match e {
                nix::errno::Errno::EOPNOTSUPP => {
                    fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)
                }
                e => Err(e),
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn dirfd(p: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(
            p,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn copies_files_dirs_links_and_modes_without_following_links() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("sub/file"), "data").unwrap();
        std::fs::set_permissions(
            src.path().join("sub/file"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), src.path().join("link")).unwrap();
        copy_tree(dirfd(src.path()).as_fd(), dirfd(dst.path()).as_fd()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.path().join("sub/file")).unwrap(),
            "data"
        );
        assert_eq!(
            std::fs::metadata(dst.path().join("sub/file"))
                .unwrap()
                .mode()
                & 0o7777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(dst.path().join("link")).unwrap(),
            outside.path()
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
