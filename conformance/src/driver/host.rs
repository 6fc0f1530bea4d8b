//! Host-side facts and setup the cases need: the driver's own namespace inodes,
//! a network namespace pinned at a path, and tmpfs mounts for propagation and
//! rbind cases. Everything mounted here is unmounted by `ctx::Ctx`'s cleanup.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use thiserror::Error;

use crate::procfs;

/// Namespace kinds as named under /proc/self/ns.
pub const NS_KINDS: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

#[derive(Debug, Error)]
pub enum HostError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} {path}: {source}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("namespace setup thread panicked")]
    Thread,
}

/// This process's namespace inodes, for kinds this kernel has.
pub fn ns_inodes() -> BTreeMap<String, u64> {
    NS_KINDS
        .iter()
        .filter_map(|k| {
            let link = std::fs::read_link(format!("/proc/self/ns/{k}")).ok()?;
            Some((
                k.to_string(),
                procfs::parse_ns_link(&link.to_string_lossy()).ok()?,
            ))
        })
        .collect()
}

/// `kind=inode,...` for the host-ns annotation.
pub fn format_inodes(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Inode of a namespace file (a bind-mounted nsfs file or /proc/PID/ns/X).
pub fn inode_of(path: &Path) -> Result<u64, HostError> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|source| HostError::Io {
            op: "stat",
            path: path.to_path_buf(),
            source,
        })
}

/// Creates a new network namespace and pins it by bind-mounting it on `target`
/// (what `ip netns add` does). The unshare happens on a throwaway thread, so
/// the driver itself stays in the host namespace.
pub fn pin_new_netns(target: &Path) -> Result<(), HostError> {
    std::fs::write(target, b"").map_err(|source| HostError::Io {
        op: "create",
        path: target.to_path_buf(),
        source,
    })?;
    let target = target.to_path_buf();
    std::thread::spawn(move || -> Result<(), HostError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|source| HostError::Sys {
            op: "unshare(CLONE_NEWNET) for",
            path: target.clone(),
            source,
        })?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|source| HostError::Sys {
            op: "bind netns on",
            path: target.clone(),
            source,
        })
    })
    .join()
    .map_err(|_| HostError::Thread)?
}

/// Mounts a small tmpfs at `target` (created if missing).
pub fn mount_tmpfs(target: &Path) -> Result<(), HostError> {
    std::fs::create_dir_all(target).map_err(|source| HostError::Io {
        op: "mkdir",
        path: target.to_path_buf(),
        source,
    })?;
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m,mode=777"),
    )
    .map_err(|source| HostError::Sys {
        op: "mount tmpfs on",
        path: target.to_path_buf(),
        source,
    })
}

/// Changes the propagation type of the mount at `target`.
pub fn set_propagation(target: &Path, flag: MsFlags) -> Result<(), HostError> {
    mount(None::<&str>, target, None::<&str>, flag, None::<&str>).map_err(|source| HostError::Sys {
        op: "set propagation of",
        path: target.to_path_buf(),
        source,
    })
}

/// Lazily unmounts; errors are ignored because this runs during cleanup.
pub fn detach(target: &Path) {
    let _ = umount2(target, MntFlags::MNT_DETACH);
}

/// Whether a process exists (and is not a zombie).
pub fn pid_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

/// Attaches a fresh sparse file of `size` bytes at `image` to a free loop
/// device (`losetup --find --show`) and returns the device path.
pub fn attach_loop(image: &Path, size: u64) -> Result<PathBuf, HostError> {
    let io = |op: &'static str| {
        let path = image.to_path_buf();
        move |source| HostError::Io { op, path, source }
    };
    let file = std::fs::File::create(image).map_err(io("create"))?;
    file.set_len(size).map_err(io("truncate"))?;
    drop(file);
    let out = std::process::Command::new("losetup")
        .arg("--find")
        .arg("--show")
        .arg(image)
        .output()
        .map_err(io("losetup --find --show"))?;
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dev.is_empty() {
        return Err(HostError::Io {
            op: "losetup --find --show",
            path: image.to_path_buf(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    Ok(PathBuf::from(dev))
}

/// Detaches a loop device; errors are ignored because this runs during cleanup.
pub fn detach_loop(dev: &Path) {
    let _ = std::process::Command::new("losetup")
        .arg("--detach")
        .arg(dev)
        .output();
}

/// `(major, minor)` of a block or char device node.
pub fn dev_numbers(dev: &Path) -> Result<(u64, u64), HostError> {
    let rdev = std::fs::metadata(dev)
        .map_err(|source| HostError::Io {
            op: "stat",
            path: dev.to_path_buf(),
            source,
        })?
        .rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}
