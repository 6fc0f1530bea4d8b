//! Checks on `/dev`: the spec's default devices with their numbers and
//! behaviour, `/dev/ptmx`, the default `/dev` filesystems and symlinks, the
//! console when a terminal is asked for, and every `linux.devices` entry.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use nix::sys::stat::{major, minor};

use super::{errno_name, Check, Observer};
use crate::config::Device;
use crate::procfs;

/// config-linux.md "Default Devices": path, major, minor (all char devices).
pub(super) const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// config-linux.md "Dev symbolic links".
const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    for (path, maj, min) in DEFAULT_DEVICES {
        out.push(node_check(
            &format!("default-device[{path}]"),
            path,
            'c',
            Some((*maj, *min)),
        ));
    }
    behaviour_checks(out);
    out.push(ptmx_check());
    if let Ok(mounts) = obs.mountinfo() {
        for (path, fstype) in [("/dev/pts", "devpts"), ("/dev/shm", "tmpfs")] {
            let got = procfs::mount_at(mounts, path).map(|m| m.fstype.clone());
            out.push(Check::eq(
                format!("default-fs[{path}]"),
                Some(fstype.to_string()),
                got,
            ));
        }
    }
    for (link, target) in DEV_LINKS {
        let got = std::fs::read_link(link)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|e| format!("error: {e}"));
        out.push(Check::eq(
            format!("dev-link[{link}]"),
            target.to_string(),
            got,
        ));
    }
    if obs.spec.process.terminal {
        let got = std::fs::metadata("/dev/console").map(|m| m.file_type().is_char_device());
        out.push(Check::eq("dev-console", true, got.unwrap_or(false)));
    }
    for dev in &obs.spec.linux.devices {
        device_checks(dev, out);
    }
}

fn node_check(name: &str, path: &str, kind: char, numbers: Option<(u64, u64)>) -> Check {
    let want = describe(kind, numbers);
    match std::fs::symlink_metadata(path) {
        Ok(md) => {
            let ft = md.file_type();
            let got_kind = if ft.is_char_device() {
                'c'
            } else if ft.is_block_device() {
                'b'
            } else if ft.is_fifo() {
                'p'
            } else {
                '?'
            };
            let got_numbers = numbers.map(|_| (major(md.rdev()), minor(md.rdev())));
            Check::eq(name, want, describe(got_kind, got_numbers))
        }
        Err(e) => Check::error(name, want, e),
    }
}

fn describe(kind: char, numbers: Option<(u64, u64)>) -> String {
    match numbers {
        Some((maj, min)) => format!("{kind} {maj}:{min}"),
        None => kind.to_string(),
    }
}

/// The default devices must work, not just exist (a regular file named
/// /dev/null would pass a stat check on a sloppy runtime).
fn behaviour_checks(out: &mut Vec<Check>) {
    let mut buf = [1u8; 16];
    let zero = std::fs::File::open("/dev/zero")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map(|_| buf.iter().all(|b| *b == 0));
    out.push(Check::eq(
        "default-device[/dev/zero].reads-zeros",
        "true".to_string(),
        zero.map(|z| z.to_string())
            .unwrap_or_else(|e| e.to_string()),
    ));
    let null = std::fs::read("/dev/null").map(|b| b.len());
    out.push(Check::eq(
        "default-device[/dev/null].reads-empty",
        Some(0),
        null.ok(),
    ));
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .and_then(|mut f| f.write_all(b"x"));
    out.push(Check::eq(
        "default-device[/dev/full].write",
        "ENOSPC".to_string(),
        errno_name(&full),
    ));
}

/// /dev/ptmx must lead to the container's own devpts instance: a symlink to
/// pts/ptmx, or a bind mount of it (char 5:2).
fn ptmx_check() -> Check {
    let name = "dev-ptmx";
    let want = "symlink to pts/ptmx or char 5:2";
    match std::fs::symlink_metadata("/dev/ptmx") {
        Ok(md) if md.file_type().is_symlink() => {
            let target = std::fs::read_link("/dev/ptmx")
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            Check::new(
                name,
                target == "pts/ptmx" || target == "/dev/pts/ptmx",
                want,
                target,
            )
        }
        Ok(md) => {
            let got = format!(
                "{} {}:{}",
                if md.file_type().is_char_device() {
                    'c'
                } else {
                    '?'
                },
                major(md.rdev()),
                minor(md.rdev())
            );
            Check::new(name, got == "c 5:2", want, got)
        }
        Err(e) => Check::error(name, want, e),
    }
}

fn device_checks(dev: &Device, out: &mut Vec<Check>) {
    let name = format!("linux.devices[{}]", dev.path);
    let kind = match dev.kind.as_str() {
        "u" => 'c',
        k => k.chars().next().unwrap_or('?'),
    };
    let numbers = if kind == 'p' {
        None
    } else {
        dev.major.zip(dev.minor)
    };
    out.push(node_check(
        &format!("{name}.node"),
        &dev.path,
        kind,
        numbers,
    ));
    let Ok(md) = std::fs::symlink_metadata(&dev.path) else {
        return;
    };
    if let Some(mode) = dev.file_mode {
        out.push(Check::eq(
            format!("{name}.fileMode"),
            format!("{:o}", mode & 0o777),
            format!("{:o}", md.permissions().mode() & 0o777),
        ));
    }
    if let Some(uid) = dev.uid {
        out.push(Check::eq(format!("{name}.uid"), uid, md.uid()));
    }
    if let Some(gid) = dev.gid {
        out.push(Check::eq(format!("{name}.gid"), gid, md.gid()));
    }
}
