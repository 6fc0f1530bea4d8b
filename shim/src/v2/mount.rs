//! The container's rootfs: containerd sends the snapshot as mounts in the
//! Create request (overlay, or a bind for a one-layer view) and the shim
//! mounts them on `<bundle>/rootfs`, as runc's shim does; Delete (and the
//! `delete` command) unmounts it.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {fstype} {src} on {target}: {errno}")]
    Mount {
        fstype: String,
        src: String,
        target: String,
        errno: nix::errno::Errno,
    },
}

/// One mount of the request (`containerd.types.Mount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Mount options that are flags; the rest is the filesystem's data.
/// (option, set, flag) as in mount(8).
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("bind", true, MsFlags::MS_BIND),
    ("rbind", true, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nodev", true, MsFlags::MS_NODEV),
    ("dev", false, MsFlags::MS_NODEV),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("atime", false, MsFlags::MS_NOATIME),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("remount", true, MsFlags::MS_REMOUNT),
    ("defaults", false, MsFlags::empty()),
];

/// Splits options into flags and the data string.
pub fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match FLAGS.iter().find(|(name, _, _)| name == o) {
            Some((_, true, f)) => flags |= *f,
            Some((_, false, f)) => flags &= !*f,
            None => data.push(o.as_str()),
        }
    }
    (flags, data.join(","))
}

/// Mounts each in order on `target`.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), MountError> {
    for m in mounts {
        let (flags, data) = parse_options(&m.options);
        let err = |errno| MountError::Mount {
            fstype: m.fstype.clone(),
            src: m.source.clone(),
            target: target.display().to_string(),
            errno,
        };
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(
            Some(m.source.as_str()),
            target,
            Some(m.fstype.as_str()),
            flags,
            data,
        )
        .map_err(err)?;
        // A bind ignores MS_RDONLY on the first call: remount to apply it.
        if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                flags | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(err)?;
        }
    }
    Ok(())
}

/// Unmounts everything stacked on `target` (detached, so a straggler
/// holding it open cannot make Delete fail).
pub fn unmount_all(target: &Path) {
    for _ in 0..16 {
        if umount2(target, MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn overlay_options_are_data_and_flags_are_flags() {
        let (f, d) = parse_options(&opts(&[
            "index=off",
            "workdir=/w",
            "upperdir=/u",
            "lowerdir=/l",
        ]));
        assert_eq!(f, MsFlags::empty());
        assert_eq!(d, "index=off,workdir=/w,upperdir=/u,lowerdir=/l");
        let (f, d) = parse_options(&opts(&["ro", "rbind"]));
        assert_eq!(f, MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(d, "");
        let (f, _) = parse_options(&opts(&["ro", "rw", "nosuid"]));
        assert_eq!(f, MsFlags::MS_NOSUID);
    }
}
