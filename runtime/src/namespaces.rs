//! Entering namespaces: joining by path (setns) in the planned order, and the
//! launcher-side guard that enters PID and time namespaces "for children"
//! just around clone3 and restores its own afterwards.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use crate::sys::Kernel;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("open namespace {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("join {kind} namespace {path}: {source}")]
    Join {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{op}: {source}")]
    Op {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

pub fn kind_name(flag: CloneFlags) -> &'static str {
    match flag {
        CloneFlags::CLONE_NEWNS => "mount",
        CloneFlags::CLONE_NEWCGROUP => "cgroup",
        CloneFlags::CLONE_NEWUTS => "uts",
        CloneFlags::CLONE_NEWIPC => "ipc",
        CloneFlags::CLONE_NEWUSER => "user",
        CloneFlags::CLONE_NEWPID => "pid",
        CloneFlags::CLONE_NEWNET => "network",
        _ => "time",
    }
}

pub fn open(path: &Path) -> Result<OwnedFd, NamespaceError> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
        NamespaceError::Open {
            path: path.to_path_buf(),
            source: e.into(),
        }
    })
}

/// Joins each namespace in order (already sorted: user first, mount last).
pub fn join_all(k: &impl Kernel, joins: &[(CloneFlags, PathBuf)]) -> Result<(), NamespaceError> {
    for (flag, path) in joins {
        let fd = open(path)?;
        k.setns(fd.as_fd(), *flag)
            .map_err(|source| NamespaceError::Join {
                kind: kind_name(*flag),
                path: path.clone(),
                source,
            })?;
    }
    Ok(())
}

/// While alive, the launcher's children are created in the joined PID/time
/// namespaces (or a new time namespace with offsets). Dropping it returns
/// the launcher's "for children" namespaces to its own, so hooks it runs
/// later are not born inside the container.
#[derive(Debug)]
pub struct ForChildren {
    restore: Vec<(CloneFlags, OwnedFd)>,
}

impl ForChildren {
    pub fn enter(
        pid: Option<&Path>,
        time: Option<&Path>,
        new_time_offsets: Option<&str>,
    ) -> Result<ForChildren, NamespaceError> {
        let mut guard = ForChildren {
            restore: Vec::new(),
        };
        let time_flag = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
        if let Some(p) = pid {
            let own = open(Path::new("/proc/self/ns/pid"))?;
            nix::sched::setns(open(p)?.as_fd(), CloneFlags::CLONE_NEWPID).map_err(|e| {
                NamespaceError::Join {
                    kind: "pid",
                    path: p.into(),
                    source: e.into(),
                }
            })?;
            guard.restore.push((CloneFlags::CLONE_NEWPID, own));
        }
        if time.is_some() || new_time_offsets.is_some() {
            let own = open(Path::new("/proc/self/ns/time"))?;
            match time {
                Some(p) => nix::sched::setns(open(p)?.as_fd(), time_flag).map_err(|e| {
                    NamespaceError::Join {
                        kind: "time",
                        path: p.into(),
                        source: e.into(),
                    }
                })?,
                None => {
                    nix::sched::unshare(time_flag).map_err(|e| NamespaceError::Op {
                        op: "unshare time namespace",
                        source: e.into(),
                    })?;
                    let offsets = new_time_offsets.unwrap_or_default();
                    if !offsets.is_empty() {
                        std::fs::write("/proc/self/timens_offsets", offsets).map_err(|source| {
                            NamespaceError::Op {
                                op: "write timens_offsets",
                                source,
                            }
                        })?;
                    }
                }
            }
            guard.restore.push((time_flag, own));
        }
        Ok(guard)
    }
}

impl Drop for ForChildren {
    fn drop(&mut self) {
        for (flag, fd) in self.restore.drain(..) {
            if let Err(e) = nix::sched::setns(fd.as_fd(), flag) {
                tracing::warn!(error = %e, namespace = kind_name(flag), "could not restore own namespace");
            }
        }
    }
}

/// The /proc/self/timens_offsets text for linux.timeOffsets.
pub fn time_offsets_text(
    offsets: &std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>,
) -> String {
    let mut lines: Vec<String> = offsets
        .iter()
        .map(|(clock, o)| {
            format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            )
        })
        .collect();
    lines.sort();
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::kernel::fake::FakeKernel;

    #[test]
    fn joins_in_given_order() {
        let k = FakeKernel::default();
        let joins = vec![
            (CloneFlags::CLONE_NEWNET, PathBuf::from("/proc/self/ns/net")),
            (CloneFlags::CLONE_NEWNS, PathBuf::from("/proc/self/ns/mnt")),
        ];
        join_all(&k, &joins).unwrap();
        assert_eq!(
            k.calls(),
            vec![
                "setns CloneFlags(CLONE_NEWNET)",
                "setns CloneFlags(CLONE_NEWNS)"
            ]
        );
    }

    #[test]
    fn missing_namespace_file_is_named() {
        let k = FakeKernel::default();
        let err =
            join_all(&k, &[(CloneFlags::CLONE_NEWNET, "/nonexistent/ns".into())]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ns"));
    }
}
