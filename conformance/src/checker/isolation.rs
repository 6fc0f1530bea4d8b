//! Checks that the container cannot reach past what its config grants, run
//! in every case: no descriptors beyond stdio and the preserved ones; no
//! device nodes in /dev beyond the configured ones, and no mknod without
//! CAP_MKNOD; masks and read-only paths that cannot be unmounted or
//! remounted without CAP_SYS_ADMIN (nor bypassed with a fresh procfs); and,
//! with new namespaces, only the container's own pids, only `lo`, and no
//! mount that the config does not explain.

use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use super::devices::DEFAULT_DEVICES;
use super::{errno_name, read, resolved, Check, Observer};
use crate::caps;
use crate::config::{self, ANN_EXPECT_MOUNTED, ANN_PRESERVED_FDS, MARKER_CONTENT};
use crate::procfs::{self, MountInfo};

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    fd_checks(obs, out);
    device_inventory(obs, out);
    let eff = procfs::status_cap_mask(&obs.status, "CapEff").ok();
    let lacks = |cap: &str| eff.is_some_and(|m| m & caps::mask(&[cap]).unwrap_or(0) == 0);
    if obs.euid == 0 && lacks("CAP_MKNOD") {
        out.push(mknod_check());
    }
    if lacks("CAP_SYS_ADMIN") {
        lock_checks(obs, out);
    }
    if new_ns(obs, "pid") {
        out.push(pid_view());
    }
    if new_ns(obs, "network") {
        out.push(net_view());
    }
    if new_ns(obs, "mount") {
        if let Ok(mounts) = obs.mountinfo() {
            out.push(mount_view(obs, mounts));
        }
    }
}

/// A namespace of this kind is created for the container (not joined).
fn new_ns(obs: &Observer, kind: &str) -> bool {
    obs.spec
        .linux
        .namespaces
        .iter()
        .any(|n| n.kind == kind && n.path.is_none())
}

/// Descriptors open in this process other than the one listing them: the
/// runtime must close (or mark close-on-exec) everything it or its caller
/// had open, except stdio and the `--preserve-fds` ones.
fn fd_checks(obs: &Observer, out: &mut Vec<Check>) {
    let preserved: i32 = obs
        .annotation(ANN_PRESERVED_FDS)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let want: Vec<i32> = (0..3 + preserved).collect();
    let listing = Dir::open("/proc/self/fd", OFlag::O_RDONLY, Mode::empty()).map(|mut dir| {
        let own = dir.as_raw_fd();
        dir.iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().ok()?.parse().ok())
            .filter(|fd| *fd != own)
            .collect::<Vec<i32>>()
    });
    match listing {
        Ok(mut got) => {
            got.sort_unstable();
            let described: Vec<String> = got.iter().map(|fd| describe_fd(*fd)).collect();
            out.push(Check::new(
                "fds.only-stdio-and-preserved",
                got == want,
                want,
                described,
            ));
        }
        Err(e) => out.push(Check::error("fds.only-stdio-and-preserved", want, e)),
    }
    for fd in 3..3 + preserved {
        let got = read(&format!("/proc/self/fd/{fd}")).unwrap_or_else(|e| format!("error: {e}"));
        out.push(Check::eq(
            format!("fds.preserved[{fd}]"),
            MARKER_CONTENT.to_string(),
            got,
        ));
    }
}

fn describe_fd(fd: i32) -> String {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|t| t.display().to_string())
        .unwrap_or_else(|e| format!("?{e}"));
    format!("{fd} -> {target}")
}

/// Every char or block device under /dev, outside the filesystems mounted
/// below it (devpts has its own nodes), must be one the spec or the config
/// asks for: a runtime that binds the host's /dev fails here.
fn device_inventory(obs: &Observer, out: &mut Vec<Check>) {
    let name = "dev.only-configured-devices";
    let Ok(mounts) = obs.mountinfo() else {
        return;
    };
    let mut allowed: Vec<String> = DEFAULT_DEVICES
        .iter()
        .map(|(p, _, _)| p.to_string())
        .chain(["/dev/ptmx".to_string()])
        .chain(
            obs.spec
                .linux
                .devices
                .iter()
                .map(|d| procfs::normalize_path(&d.path)),
        )
        .collect();
    if obs.spec.process.terminal {
        allowed.push("/dev/console".into());
    }
    let mut found = Vec::new();
    if let Err(e) = walk_devices(Path::new("/dev"), mounts, &mut found) {
        return out.push(Check::error(name, "a readable /dev", e));
    }
    let extra: Vec<String> = found.into_iter().filter(|p| !allowed.contains(p)).collect();
    out.push(Check::new(
        name,
        extra.is_empty(),
        "none unconfigured",
        extra,
    ));
}

fn walk_devices(dir: &Path, mounts: &[MountInfo], found: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        let text = path.display().to_string();
        if ft.is_char_device() || ft.is_block_device() {
            found.push(text);
        } else if ft.is_dir() && procfs::mount_at(mounts, &text).is_none() {
            walk_devices(&path, mounts, found)?;
        }
    }
    Ok(())
}

/// Without CAP_MKNOD root cannot make device nodes (and the device cgroup
/// would refuse them too): a way to reach host devices closed.
fn mknod_check() -> Check {
    let path = "/dev/.berth-mknod-probe";
    let res = mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(1, 3),
    );
    if res.is_ok() {
        let _ = std::fs::remove_file(path);
    }
    Check::eq(
        "dev.mknod-without-cap",
        "EPERM".to_string(),
        errno_name(&res.map_err(std::io::Error::from)),
    )
}

/// Masks and read-only paths are mounts; without CAP_SYS_ADMIN in the
/// mount namespace's owner none can be undone, and no fresh procfs can be
/// mounted to look behind them.
fn lock_checks(obs: &Observer, out: &mut Vec<Check>) {
    let exists = |p: &str| std::fs::symlink_metadata(p).is_ok();
    let want = "EPERM".to_string();
    for path in obs.spec.linux.masked_paths.iter().filter(|p| exists(p)) {
        let res = umount2(path.as_str(), MntFlags::empty()).map_err(std::io::Error::from);
        out.push(Check::eq(
            format!("linux.maskedPaths[{path}].umount"),
            want.clone(),
            errno_name(&res),
        ));
    }
    for path in obs.spec.linux.readonly_paths.iter().filter(|p| exists(p)) {
        let res = mount(
            None::<&str>,
            path.as_str(),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(std::io::Error::from);
        out.push(Check::eq(
            format!("linux.readonlyPaths[{path}].remount-rw"),
            want.clone(),
            errno_name(&res),
        ));
    }
    let res = mount(
        Some("proc"),
        "/tmp",
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(std::io::Error::from);
    out.push(Check::eq("mount-fresh-procfs", want, errno_name(&res)));
}

/// In a new pid namespace this process is pid 1 and /proc, mounted for
/// that namespace, lists nothing else (the checker has no child running).
fn pid_view() -> Check {
    let mut pids: Vec<String> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    pids.sort();
    let me = std::process::id();
    Check::new(
        "pid-namespace.view",
        me == 1 && pids == ["1"],
        "pid 1, /proc lists only 1",
        format!("pid {me}, /proc lists {}", pids.join(" ")),
    )
}

/// A new network namespace has only the loopback interface.
fn net_view() -> Check {
    let name = "network-namespace.interfaces";
    match read("/proc/net/dev") {
        Ok(text) => {
            let got: Vec<String> = text
                .lines()
                .skip(2)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, _)| n.trim().to_string())
                .collect();
            Check::eq(name, vec!["lo".to_string()], got)
        }
        Err(e) => Check::error(name, ["lo"], e),
    }
}

/// In a new mount namespace every mount is the root, a configured mount (or
/// below one: submounts of rbinds, cgroup v1 hierarchies), a mask or
/// read-only path, the console, or one the driver expects: nothing of the
/// host's mount table shows through.
fn mount_view(obs: &Observer, mounts: &[MountInfo]) -> Check {
    let mut allowed: Vec<String> = obs
        .spec
        .mounts
        .iter()
        .map(|m| resolved(&m.destination))
        .chain(obs.spec.linux.masked_paths.iter().cloned())
        .chain(obs.spec.linux.readonly_paths.iter().cloned())
        .chain(["/dev/console".to_string()])
        .chain(
            obs.annotation(ANN_EXPECT_MOUNTED)
                .map(config::parse_list)
                .unwrap_or_default(),
        )
        .map(|p| procfs::normalize_path(&p))
        .filter(|p| p != "/")
        .collect();
    allowed.dedup();
    let under = |mp: &str, dir: &str| mp == dir || mp.starts_with(&format!("{dir}/"));
    let extra: Vec<&str> = mounts
        .iter()
        .map(|m| m.mount_point.as_str())
        .filter(|mp| *mp != "/" && !allowed.iter().any(|d| under(mp, d)))
        .collect();
    Check::new(
        "mount-namespace.view",
        extra.is_empty(),
        "only / and configured mounts",
        extra,
    )
}
