//! Performing one entry of config.json `mounts`: bind mounts (with the
//! remount their flags need), filesystem mounts, the special `cgroup` type,
//! then propagation and recursive attributes. Targets are always resolved
//! inside the rootfs and reached through their fd.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;

use super::paths::{self, proc_fd_path, Kind};
use super::{remount_readonly, CgroupMount, RootfsError, RootfsPlan};
use crate::spec::plan::MountPlan;
use crate::sys::fs::MountAttr;
use crate::sys::Kernel;

pub fn mount_one(
    k: &impl Kernel,
    root: &OwnedFd,
    index: usize,
    m: &MountPlan,
    plan: &RootfsPlan<'_>,
) -> Result<(), RootfsError> {
    if m.options.idmap {
        return Err(RootfsError::Unsupported {
            index,
            dest: m.destination.clone(),
            message: "idmapped mounts (idmap, ridmap) are not supported yet".into(),
        });
    }
    if m.typ == "cgroup" || m.typ == "cgroup2" {
        return mount_cgroups(k, root, m, plan);
    }
    let dest = &m.destination;
    let src_desc = m
        .source
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| m.typ.clone());
    let merr = |e| RootfsError::Mount {
        source_desc: src_desc.clone(),
        dest: dest.clone(),
        source: e,
    };
    if m.options.is_bind() {
        let source = m
            .source
            .as_deref()
            .ok_or_else(|| RootfsError::Unsupported {
                index,
                dest: dest.clone(),
                message: "a bind mount needs a source".into(),
            })?;
        let meta = std::fs::metadata(source).map_err(merr)?;
        let target = paths::ensure(
            root,
            dest,
            if meta.is_dir() { Kind::Dir } else { Kind::File },
        )
        .map_err(merr)?;
        k.mount(
            Some(source),
            &proc_fd_path(&target),
            None,
            m.options.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None,
        )
        .map_err(merr)?;
        let extra = m.options.bind_remount_flags();
        if !extra.is_empty() {
            let target = paths::open_in_root(root, dest).map_err(merr)?;
            remount_readonly(
                k,
                &proc_fd_path(&target),
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
            )?;
        }
    } else {
        let target = paths::ensure(root, dest, Kind::Dir).map_err(merr)?;
        // tmpcopyup reads the directory through an fd taken before the tmpfs hides it.
        let original = match m.options.tmpcopyup {
            true => Some(
                paths::open_in_root_with(root, dest, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .map_err(merr)?,
            ),
            false => None,
        };
        let source = m.source.clone().unwrap_or_else(|| m.typ.clone().into());
        let data = (!m.options.data.is_empty()).then_some(m.options.data.as_str());
        let flags = m.options.flags & !MsFlags::MS_REMOUNT;
        let fstype = if m.typ.is_empty() {
            None
        } else {
            Some(m.typ.as_str())
        };
        match k.mount(Some(&source), &proc_fd_path(&target), fstype, flags, data) {
            // sysfs cannot be mounted from a user namespace that does not own
            // the network namespace; runc falls back to binding the host's.
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM)
                    && m.typ == "sysfs"
                    && plan.bind_devices =>
            {
                k.mount(
                    Some(Path::new("/sys")),
                    &proc_fd_path(&target),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .map_err(merr)?;
                let target = paths::open_in_root(root, dest).map_err(merr)?;
                remount_readonly(
                    k,
                    &proc_fd_path(&target),
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
                )?;
            }
            other => other.map_err(merr)?,
        }
        if let Some(original) = original {
            let mounted =
                paths::open_in_root_with(root, dest, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .map_err(merr)?;
            super::copyup::copy_tree(original.as_fd(), mounted.as_fd()).map_err(merr)?;
        }
    }
    finish(k, root, m).map_err(merr)
}

/// Propagation changes and recursive attributes apply to the new mount,
/// reached by resolving the destination again (it now crosses into it).
fn finish(k: &impl Kernel, root: &OwnedFd, m: &MountPlan) -> std::io::Result<()> {
    if m.options.propagation.is_empty() && !m.options.has_recursive_attrs() {
        return Ok(());
    }
    let target = paths::open_in_root(root, &m.destination)?;
    for p in &m.options.propagation {
        k.mount(None, &proc_fd_path(&target), None, *p, None)?;
    }
    if m.options.has_recursive_attrs() {
        let attr = MountAttr {
            attr_set: m.options.rec_set,
            attr_clr: m.options.rec_clear,
            ..Default::default()
        };
        k.mount_setattr(target.as_fd(), &attr)?;
    }
    Ok(())
}

/// `cgroup` mounts: on a pure v2 host the cgroup2 filesystem (fresh in a
/// cgroup namespace, else the container's own directory bound); on v1 a
/// tmpfs with one entry per hierarchy, mounted fresh in a cgroup namespace
/// or bound from the container's directory, plus links for co-mounted
/// controllers (`cpu` -> `cpu,cpuacct`). Read-only is applied last.
fn mount_cgroups(
    k: &impl Kernel,
    root: &OwnedFd,
    m: &MountPlan,
    plan: &RootfsPlan<'_>,
) -> Result<(), RootfsError> {
    let dest = &m.destination;
    let merr = |e| RootfsError::Mount {
        source_desc: "cgroup".into(),
        dest: dest.clone(),
        source: e,
    };
    let flags = m.options.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let base = flags & !MsFlags::MS_RDONLY;
    if plan.cgroups.len() == 1 && plan.cgroups[0].name.is_empty() {
        return mount_hierarchy(k, root, dest, &plan.cgroups[0], plan.cgroup_ns, flags)
            .map_err(merr);
    }
    let target = paths::ensure(root, dest, Kind::Dir).map_err(merr)?;
    k.mount(
        Some(Path::new("tmpfs")),
        &proc_fd_path(&target),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(merr)?;
    let tmpfs = paths::open_in_root(root, dest).map_err(merr)?;
    for cg in &plan.cgroups {
        let sub = dest.join(&cg.name);
        mount_hierarchy(k, root, &sub, cg, plan.cgroup_ns, flags).map_err(merr)?;
        if cg.name.contains(',') {
            for alias in cg.name.split(',') {
                match nix::unistd::symlinkat(cg.name.as_str(), tmpfs.as_fd(), alias) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(merr(e.into())),
                }
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let target = paths::open_in_root(root, dest).map_err(merr)?;
        remount_readonly(k, &proc_fd_path(&target), MsFlags::MS_REMOUNT | flags)?;
    }
    Ok(())
}

fn mount_hierarchy(
    k: &impl Kernel,
    root: &OwnedFd,
    dest: &Path,
    cg: &CgroupMount,
    cgroup_ns: bool,
    flags: MsFlags,
) -> std::io::Result<()> {
    let target = paths::ensure(root, dest, Kind::Dir)?;
    if cgroup_ns {
        let data = (!cg.data.is_empty()).then_some(cg.data.as_str());
        return k.mount(
            Some(Path::new(cg.fstype)),
            &proc_fd_path(&target),
            Some(cg.fstype),
            flags,
            data,
        );
    }
    k.mount(
        Some(&cg.host_dir),
        &proc_fd_path(&target),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    let target = paths::open_in_root(root, dest)?;
    k.mount(
        None,
        &proc_fd_path(&target),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None,
    )
}
