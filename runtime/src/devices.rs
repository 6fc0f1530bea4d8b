//! Device nodes inside the container: the runtime spec's default set plus
//! linux.devices. Created with mknod, or, inside a user namespace where mknod
//! is not allowed, bind-mounted from the host's node of the same path.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::rootfs::paths::{self, Kind};
use crate::rootfs::RootfsError;
use crate::sys::Kernel;

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (runtime spec, "Default Devices").
#[rustfmt::skip]
const DEFAULTS: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The default set, overridden entry by entry by linux.devices, in order.
pub fn plan(configured: &[LinuxDevice]) -> Vec<Device> {
    let mut out: Vec<Device> = DEFAULTS
        .iter()
        .map(|(p, major, minor)| Device {
            path: p.into(),
            kind: SFlag::S_IFCHR,
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in configured {
        let kind = match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let dev = Device {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        match out.iter_mut().find(|x| x.path == dev.path) {
            Some(slot) => *slot = dev,
            None => out.push(dev),
        }
    }
    out
}

/// Creates every device under `root`.
pub fn create_all(
    k: &impl Kernel,
    root: &impl AsRawFd,
    devices: &[Device],
    bind_from_host: bool,
) -> Result<(), RootfsError> {
    for d in devices {
        if bind_from_host {
            bind_device(k, root, d)?;
        } else {
            mknod_device(root, d)?;
        }
    }
    Ok(())
}

fn mknod_device(root: &impl AsRawFd, d: &Device) -> Result<(), RootfsError> {
    let err = |op: &'static str| {
        move |source: std::io::Error| RootfsError::Device {
            op,
            path: d.path.clone(),
            source,
        }
    };
    let parent_path = d.path.parent().unwrap_or(Path::new("/"));
    let parent = paths::ensure(root, parent_path, Kind::Dir).map_err(err("create parent of"))?;
    let name = d
        .path
        .file_name()
        .ok_or_else(|| err("name")(std::io::ErrorKind::InvalidInput.into()))?;
    let dev = nix::sys::stat::makedev(d.major, d.minor);
    match nix::sys::stat::mknodat(
        parent.as_fd(),
        name,
        d.kind,
        Mode::from_bits_truncate(d.mode),
        dev,
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::EEXIST) => {
            // Replace whatever the image shipped there with the configured node.
            nix::unistd::unlinkat(
                parent.as_fd(),
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(|e| err("replace")(e.into()))?;
            nix::sys::stat::mknodat(
                parent.as_fd(),
                name,
                d.kind,
                Mode::from_bits_truncate(d.mode),
                dev,
            )
            .map_err(|e| err("mknod")(e.into()))?;
        }
        Err(e) => return Err(err("mknod")(e.into())),
    }
    // mknod is subject to the umask; set the exact mode and owner afterwards.
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    nix::sys::stat::fchmodat(
        parent.as_fd(),
        name,
        Mode::from_bits_truncate(d.mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| err("chmod")(e.into()))?;
    nix::unistd::fchownat(
        parent.as_fd(),
        name,
        Some(d.uid.into()),
        Some(d.gid.into()),
        flags,
    )
    .map_err(|e| err("chown")(e.into()))?;
    Ok(())
}

fn bind_device(k: &impl Kernel, root: &impl AsRawFd, d: &Device) -> Result<(), RootfsError> {
    let err = |op: &'static str| {
        move |source: std::io::Error| RootfsError::Device {
            op,
            path: d.path.clone(),
            source,
        }
    };
    let target = paths::ensure(root, &d.path, Kind::File).map_err(err("create"))?;
    k.mount(
        Some(&d.path),
        &paths::proc_fd_path(&target),
        Some("bind"),
        MsFlags::MS_BIND,
        None,
    )
    .map_err(err("bind"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_present_and_overridable() {
        let cfg: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384},{"path":"/dev/fuse","type":"c","major":10,"minor":229,"uid":5,"gid":6}]"#,
        )
        .unwrap();
        let p = plan(&cfg);
        assert_eq!(p.len(), 7);
        let null = p.iter().find(|d| d.path == Path::new("/dev/null")).unwrap();
        assert_eq!(null.mode, 0o600);
        let fuse = p.last().unwrap();
        assert_eq!(
            (fuse.major, fuse.minor, fuse.uid, fuse.gid),
            (10, 229, 5, 6)
        );
        let tty = p.iter().find(|d| d.path == Path::new("/dev/tty")).unwrap();
        assert_eq!((tty.major, tty.minor, tty.kind), (5, 0, SFlag::S_IFCHR));
    }
}
