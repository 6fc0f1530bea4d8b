//! Building the container's filesystem view, in three phases run by the init
//! process inside its new mount namespace:
//!
//! 1. [`prepare`] (before pivot): set root propagation, bind the rootfs onto
//!    itself, perform `mounts` in order, create devices and /dev links. Every
//!    target is resolved inside the rootfs ([`paths`]).
//! 2. [`pivot`]: pivot_root (or MS_MOVE + chroot with --no-pivot) and detach
//!    the old root.
//! 3. [`finalize`] (after pivot): masked and read-only paths, read-only root.

pub mod copyup;
pub mod mounts;
pub mod options;
pub mod paths;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

use crate::devices::{self, Device};
use crate::spec::plan::MountPlan;
use crate::sys::Kernel;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mount {source_desc} on {dest}: {source}")]
    Mount {
        source_desc: String,
        dest: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("device {op} {path}: {source}")]
    Device {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mounts[{index}] on {dest}: {message}")]
    Unsupported {
        index: usize,
        dest: PathBuf,
        message: String,
    },
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A cgroup hierarchy as the container should see it under /sys/fs/cgroup.
#[derive(Debug, Clone)]
pub struct CgroupMount {
    /// Directory name under the cgroup mount (`cpu,cpuacct`, `unified`, or
    /// empty for a pure v2 host where the hierarchy is the mount itself).
    pub name: String,
    /// The container's cgroup directory on the host.
    pub host_dir: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: &'static str,
    /// Mount data for a fresh mount in a cgroup namespace (the controllers).
    pub data: String,
}

/// Everything the rootfs phases need, decided before clone.
#[derive(Debug)]
pub struct RootfsPlan<'a> {
    pub rootfs: &'a Path,
    pub mounts: &'a [MountPlan],
    pub devices: Vec<Device>,
    pub propagation: MsFlags,
    /// In a new user namespace mknod is forbidden: bind host nodes instead.
    pub bind_devices: bool,
    pub cgroups: Vec<CgroupMount>,
    pub cgroup_ns: bool,
    pub no_pivot: bool,
    pub readonly: bool,
    pub masked: &'a [String],
    pub readonly_paths: &'a [String],
}

impl RootfsPlan<'_> {
    /// runc creates /dev nodes unless /dev itself is a bind mount (of the host's).
    fn needs_dev_setup(&self) -> bool {
        !self
            .mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev") && m.options.is_bind())
    }
}

/// Phase 1: everything that must happen while host paths are still visible.
pub fn prepare(k: &impl Kernel, plan: &RootfsPlan<'_>) -> Result<(), RootfsError> {
    let mount_err = |d: &str, p: &Path| {
        let (d, p) = (d.to_string(), p.to_path_buf());
        move |source| RootfsError::Mount {
            source_desc: d,
            dest: p,
            source,
        }
    };
    k.mount(None, Path::new("/"), None, plan.propagation, None)
        .map_err(mount_err("propagation", Path::new("/")))?;
    k.mount(
        Some(plan.rootfs),
        plan.rootfs,
        Some("bind"),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(mount_err("rootfs bind", plan.rootfs))?;
    if plan.propagation.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a new root whose parent mount is shared. The
        // rootfs bind, made while the parent was shared, keeps its own
        // shared peer group when the parent leaves it.
        if let Some(parent) = parent_mount_point(plan.rootfs) {
            k.mount(None, &parent, None, MsFlags::MS_PRIVATE, None)
                .map_err(mount_err("private", &parent))?;
        }
        // pivot_root refuses a shared new root too: keep receiving the host's
        // events as a slave until finalize() shares `/` again.
        k.mount(None, plan.rootfs, None, MsFlags::MS_SLAVE, None)
            .map_err(mount_err("slave", plan.rootfs))?;
    }
    let root = open_dir(plan.rootfs)?;
    for (index, m) in plan.mounts.iter().enumerate() {
        mounts::mount_one(k, &root, index, m, plan)?;
    }
    if plan.needs_dev_setup() {
        devices::create_all(k, &root, &plan.devices, plan.bind_devices)?;
        dev_links(&root)?;
    }
    Ok(())
}

fn open_dir(path: &Path) -> Result<OwnedFd, RootfsError> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", path)(e.into()))
}

/// The mount point that contains `path`, other than `path` itself (longest
/// matching mountinfo entry).
fn parent_mount_point(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|mp| path.starts_with(mp) && mp != path)
        .max_by_key(|mp| mp.as_os_str().len())
}

/// The standard /dev symlinks (fd, stdio, ptmx to the container's devpts).
#[rustfmt::skip]
const DEV_LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

fn dev_links(root: &OwnedFd) -> Result<(), RootfsError> {
    let dev = paths::ensure(root, Path::new("/dev"), paths::Kind::Dir)
        .map_err(io_err("create", Path::new("/dev")))?;
    let mut links: Vec<(&str, &str)> = DEV_LINKS.to_vec();
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "/dev/core"));
    }
    for (target, link) in links {
        let name = Path::new(link).file_name().expect("static link names");
        // ptmx may exist as a node from the image; the link must win.
        if link == "/dev/ptmx" {
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(io_err("symlink", Path::new(link))(e.into())),
        }
    }
    Ok(())
}

/// Phase 2: make the rootfs `/` and drop every trace of the host's tree.
pub fn pivot(k: &impl Kernel, rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    let err = |op: &'static str| move |e: io::Error| io_err(op, Path::new("/"))(e);
    if no_pivot {
        k.chdir(rootfs).map_err(err("chdir"))?;
        k.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
            .map_err(err("move root"))?;
        k.chroot(Path::new(".")).map_err(err("chroot"))?;
        return k.chdir(Path::new("/")).map_err(err("chdir"));
    }
    // pivot_root(".", ".") stacks the old root on top of the new one. From a
    // cwd inside the old root, "." names that stacked mount: it is made a
    // slave (so detaching it cannot propagate to the host) and lazily
    // unmounted, leaving the new root's own propagation untouched.
    let old_root = open_dir_ro(Path::new("/"))?;
    let new_root = open_dir_ro(rootfs)?;
    k.fchdir(new_root.as_fd()).map_err(err("chdir new root"))?;
    k.pivot_root(Path::new("."), Path::new("."))
        .map_err(err("pivot_root"))?;
    k.fchdir(old_root.as_fd()).map_err(err("chdir old root"))?;
    k.mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )
    .map_err(err("make old root slave"))?;
    k.umount(Path::new("."), MntFlags::MNT_DETACH)
        .map_err(err("detach old root"))?;
    k.chdir(Path::new("/")).map_err(err("chdir"))
}

fn open_dir_ro(path: &Path) -> Result<OwnedFd, RootfsError> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", path)(e.into()))
}

/// Phase 3: masks and read-only remounts, with paths now inside the container.
pub fn finalize(k: &impl Kernel, plan: &RootfsPlan<'_>) -> Result<(), RootfsError> {
    if plan.propagation.contains(MsFlags::MS_SHARED) {
        k.mount(None, Path::new("/"), None, plan.propagation, None)
            .map_err(|e| RootfsError::Mount {
                source_desc: "linux.rootfsPropagation".into(),
                dest: "/".into(),
                source: e,
            })?;
    }
    for p in plan.readonly_paths {
        readonly_path(k, Path::new(p))?;
    }
    for p in plan.masked {
        mask_path(k, Path::new(p))?;
    }
    if plan.readonly {
        remount_readonly(
            k,
            Path::new("/"),
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        )?;
    }
    Ok(())
}

/// Flags the kernel locks on a mount inherited into a user namespace: a
/// remount must repeat them or fail with EPERM.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// Remounts with `flags`, repeating locked flags if the kernel asks for them.
pub(crate) fn remount_readonly(
    k: &impl Kernel,
    target: &Path,
    flags: MsFlags,
) -> Result<(), RootfsError> {
    let err = |e| RootfsError::Mount {
        source_desc: "remount".into(),
        dest: target.to_path_buf(),
        source: e,
    };
    match k.mount(None, target, None, flags, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => k
            .mount(None, target, None, flags | locked_flags(target), None)
            .map_err(err),
        other => other.map_err(err),
    }
}

fn readonly_path(k: &impl Kernel, p: &Path) -> Result<(), RootfsError> {
    match k.mount(Some(p), p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(RootfsError::Mount {
                source_desc: "readonly bind".into(),
                dest: p.into(),
                source: e,
            })
        }
        Ok(()) => {}
    }
    remount_readonly(
        k,
        p,
        // Only read-only is asked for; flags the mount already has are kept
        // by remount_readonly when the kernel insists on them.
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
    )
}

fn mask_path(k: &impl Kernel, p: &Path) -> Result<(), RootfsError> {
    let res = if p.is_dir() {
        k.mount(
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
    } else {
        k.mount(
            Some(Path::new("/dev/null")),
            p,
            None,
            MsFlags::MS_BIND,
            None,
        )
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(()),
        Err(e) => Err(RootfsError::Mount {
            source_desc: "mask".into(),
            dest: p.into(),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::kernel::fake::FakeKernel;

    #[test]
    fn pivot_detaches_old_root_after_making_it_slave() {
        let k = FakeKernel::default();
        let dir = tempfile::tempdir().unwrap();
        pivot(&k, dir.path(), false).unwrap();
        assert_eq!(
            k.calls(),
            vec![
                "fchdir",
                "pivot_root . .",
                "fchdir",
                "mount - . - MsFlags(MS_REC | MS_SLAVE) -",
                "umount . MntFlags(MNT_DETACH)",
                "chdir /",
            ]
        );
    }

    #[test]
    fn no_pivot_moves_and_chroots() {
        let k = FakeKernel::default();
        pivot(&k, Path::new("/r"), true).unwrap();
        assert_eq!(
            k.calls(),
            vec![
                "chdir /r",
                "mount /r / - MsFlags(MS_MOVE) -",
                "chroot .",
                "chdir /"
            ]
        );
    }

    #[test]
    fn finalize_order_readonly_then_masked_then_root() {
        let k = FakeKernel::default();
        let ro = vec!["/proc/sys".to_string()];
        let masked = vec!["/definitely/not/here".to_string()];
        let plan = RootfsPlan {
            rootfs: Path::new("/r"),
            mounts: &[],
            devices: vec![],
            propagation: MsFlags::MS_SLAVE | MsFlags::MS_REC,
            bind_devices: false,
            cgroups: vec![],
            cgroup_ns: false,
            no_pivot: false,
            readonly: true,
            masked: &masked,
            readonly_paths: &ro,
        };
        finalize(&k, &plan).unwrap();
        let calls = k.calls();
        assert!(
            calls[0].starts_with("mount /proc/sys /proc/sys - MsFlags(MS_BIND | MS_REC)"),
            "{calls:?}"
        );
        assert!(
            calls[1].contains("MS_RDONLY") && calls[1].contains("MS_REMOUNT"),
            "{calls:?}"
        );
        assert!(
            calls[2].starts_with("mount /dev/null /definitely/not/here"),
            "{calls:?}"
        );
        assert!(
            calls[3].starts_with("mount - / - MsFlags(MS_RDONLY | MS_REMOUNT | MS_BIND)"),
            "{calls:?}"
        );
    }
}
