//! The bundle's rootfs: an overlay mount over cached layers, or a plain
//! directory the layers are applied onto (`--copy`), and reading files
//! inside it without leaving it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

use crate::sys::FsContext;

/// mount(2) takes its options in one page.
const MOUNT_DATA_MAX: usize = 4095;

/// Mounts overlayfs at `target`: `lowers` top layer first. Uses
/// `lowerdir+` (one fsconfig call per layer, Linux 6.8+) so any number of
/// layers fits; falls back to mount(2) with one `lowerdir=` string on
/// older kernels when the string fits in a page.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<()> {
    let new_api = (|| {
        let ctx = FsContext::open("overlay")?;
        for l in lowers {
            ctx.set_path("lowerdir+", l)?;
        }
        ctx.set_path("upperdir", upper)?;
        ctx.set_path("workdir", work)?;
        Ok::<_, io::Error>(ctx)
    })();
    let ctx = match new_api {
        Ok(ctx) => ctx,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL)) => {
            return mount_overlay_legacy(lowers, upper, work, target).map_err(|e2| {
                io::Error::new(
                    e2.kind(),
                    format!("{e2} (after the new mount API failed: {e})"),
                )
            })
        }
        Err(e) => return Err(e),
    };
    ctx.mount_at(target)
}

fn mount_overlay_legacy(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<()> {
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() > MOUNT_DATA_MAX {
        return Err(io::Error::other(format!(
            "{} layers do not fit in mount(2)'s options and this kernel has no lowerdir+",
            lowers.len()
        )));
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| io::Error::from_raw_os_error(e as i32))
}

/// Whether `p` is a mount point (its device differs from its parent's).
pub fn is_mountpoint(p: &Path) -> bool {
    let (Ok(m), Some(parent)) = (std::fs::symlink_metadata(p), p.parent()) else {
        return false;
    };
    let Ok(pm) = std::fs::symlink_metadata(parent) else {
        return false;
    };
    m.dev() != pm.dev() || m.ino() == pm.ino()
}

/// Unmounts `p` (not lazily: a busy rootfs is an error the user should
/// see, not a mount that lingers unseen).
pub fn unmount(p: &Path) -> io::Result<()> {
    umount2(p, MntFlags::UMOUNT_NOFOLLOW).map_err(|e| io::Error::from_raw_os_error(e as i32))
}

/// The contents of `rel` inside `root`, resolved as if `root` were `/`
/// (RESOLVE_IN_ROOT: a symlinked `/etc/passwd` cannot point at the
/// host's). `None` when absent.
pub fn read_in_root(root: &Path, rel: &str) -> io::Result<Option<String>> {
    let dir = File::open(root)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(&dir, rel, how) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) => return Ok(None),
        Err(e) => return Err(io::Error::from_raw_os_error(e as i32)),
    };
    let mut s = Vec::new();
    File::from(fd).read_to_end(&mut s)?;
    Ok(Some(String::from_utf8_lossy(&s).into_owned()))
}
