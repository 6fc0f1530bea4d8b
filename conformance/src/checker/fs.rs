//! Checks on the filesystem view: every configured mount (type, flags, data,
//! propagation, and behaviour probes), the root's read-only flag, maskedPaths,
//! readonlyPaths, and the driver's expect-mounted/bind-marker annotations.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use super::{errno_name, Check, Observer};
use crate::config::{
    self, Mount, ANN_BIND_MARKERS, ANN_EXPECT_MOUNTED, ANN_EXPECT_UNMOUNTED, DEV_PROBE, EXEC_PROBE,
    MARKER_CONTENT, MARKER_FILE,
};
use crate::procfs::{self, MountInfo};

/// Per-mount flags that show up in mountinfo's mount options when set.
const VISIBLE_FLAGS: &[&str] = &[
    "ro",
    "rw",
    "nosuid",
    "nodev",
    "noexec",
    "noatime",
    "nodiratime",
];

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    let mounts = match obs.mountinfo() {
        Ok(m) => m,
        Err(e) => {
            return out.push(Check::error(
                "mountinfo",
                "parsable /proc/self/mountinfo",
                e,
            ))
        }
    };
    for m in &obs.spec.mounts {
        mount_checks(m, mounts, obs.euid, out);
    }
    root_checks(obs, mounts, out);
    for path in &obs.spec.linux.masked_paths {
        out.push(masked_check(path));
    }
    for path in &obs.spec.linux.readonly_paths {
        readonly_checks(obs, path, mounts, out);
    }
    annotation_checks(obs, mounts, out);
}

fn mount_checks(m: &Mount, mounts: &[MountInfo], euid: u32, out: &mut Vec<Check>) {
    let name = format!("mounts[{}]", m.destination);
    let Some(info) = procfs::mount_at(mounts, &super::resolved(&m.destination)) else {
        return out.push(Check::new(name, false, "a mount point", "not mounted"));
    };
    let kind = m.kind.as_deref().unwrap_or("");
    // On cgroup v1 a "cgroup" mount is a tmpfs holding one mount per hierarchy;
    // the flags then belong on those hierarchy mounts, not on the holder.
    let v1_cgroup = kind == "cgroup" && info.fstype == "tmpfs";
    if !m.is_bind() && !kind.is_empty() {
        let ok = info.fstype == kind
            || (kind == "cgroup" && matches!(info.fstype.as_str(), "cgroup2" | "tmpfs"));
        out.push(Check::new(format!("{name}.type"), ok, kind, &info.fstype));
    }
    let targets: Vec<&MountInfo> = if v1_cgroup {
        procfs::mounts_under(mounts, &m.destination)
    } else {
        vec![info]
    };
    for opt in m
        .options
        .iter()
        .filter(|o| VISIBLE_FLAGS.contains(&o.as_str()))
    {
        let missing: Vec<&str> = targets
            .iter()
            .filter(|t| !t.has_opt(opt))
            .map(|t| t.mount_point.as_str())
            .collect();
        out.push(Check::new(
            format!("{name}.options[{opt}]"),
            missing.is_empty() && !targets.is_empty(),
            opt,
            if missing.is_empty() {
                info.mount_opts.join(",")
            } else {
                format!("missing on {}", missing.join(" "))
            },
        ));
    }
    if !m.is_bind() {
        data_checks(&name, kind, m, info, out);
    }
    propagation_check(&name, m, info, out);
    let probe_dir = Path::new(&targets.first().map_or(info, |t| *t).mount_point).to_path_buf();
    probe_checks(&name, m, &probe_dir, euid, out);
}

/// Filesystem data options that the kernel reports back in a comparable form.
fn data_checks(name: &str, kind: &str, m: &Mount, info: &MountInfo, out: &mut Vec<Check>) {
    for opt in &m.options {
        let Some((key, value)) = opt.split_once('=') else {
            continue;
        };
        let check = match (kind, key) {
            ("tmpfs", "size") => {
                let got = info.super_opt("size").and_then(procfs::size_in_bytes);
                Check::eq(
                    format!("{name}.data[size]"),
                    procfs::size_in_bytes(value),
                    got,
                )
            }
            // tmpfs omits its mode from mountinfo when it is the default, so
            // compare with what the mount's root directory really has.
            ("tmpfs", "mode") => {
                let got = std::fs::metadata(&m.destination)
                    .map(|md| format!("{:o}", md.permissions().mode() & 0o7777));
                Check::eq(
                    format!("{name}.data[mode]"),
                    procfs::octal(value).map(|v| format!("{v:o}")),
                    got.ok(),
                )
            }
            ("devpts", "mode" | "ptmxmode") => {
                let got = info.super_opt(key).and_then(procfs::octal);
                Check::eq(format!("{name}.data[{key}]"), procfs::octal(value), got)
            }
            // devpts prints gid= as seen from the initial user namespace, so
            // map the configured gid out through this process's gid_map.
            ("devpts", "gid") => {
                let maps = std::fs::read_to_string("/proc/self/gid_map")
                    .ok()
                    .and_then(|t| procfs::parse_id_map(&t).ok())
                    .unwrap_or_default();
                let want = value
                    .parse()
                    .ok()
                    .and_then(|g| procfs::map_to_parent(&maps, g))
                    .map(|g| g.to_string());
                Check::eq(
                    format!("{name}.data[gid]"),
                    want,
                    info.super_opt("gid").map(String::from),
                )
            }
            _ => continue,
        };
        out.push(check);
    }
}

fn propagation_check(name: &str, m: &Mount, info: &MountInfo, out: &mut Vec<Check>) {
    let wanted = m
        .options
        .iter()
        .rev()
        .find_map(|o| match o.trim_start_matches('r') {
            p @ ("shared" | "slave" | "private" | "unbindable") => Some(p),
            _ => None,
        });
    if let Some(p) = wanted {
        out.push(propagation_matches(&format!("{name}.propagation"), p, info));
    }
}

/// Compares a propagation type with mountinfo's optional fields (proc(5)).
fn propagation_matches(name: &str, wanted: &str, info: &MountInfo) -> Check {
    let tags = info.propagation();
    let ok = match wanted {
        "shared" => tags.contains(&"shared"),
        "slave" => tags.contains(&"master") && !tags.contains(&"shared"),
        "private" => tags.is_empty(),
        "unbindable" => tags.contains(&"unbindable"),
        _ => false,
    };
    Check::new(name, ok, wanted, info.optional.join(" "))
}

/// Behaviour behind the flags, using the probe files every bind source has.
fn probe_checks(name: &str, m: &Mount, probe_dir: &Path, euid: u32, out: &mut Vec<Check>) {
    let dest = Path::new(&m.destination);
    let has = |o: &str| m.options.iter().any(|x| x == o);
    let exec = dest.join(EXEC_PROBE);
    if exec.is_file() {
        let res = std::process::Command::new(&exec).status().map(|_| ());
        out.push(Check::eq(
            format!("{name}.noexec-behaviour"),
            if has("noexec") { "EACCES" } else { "ok" }.to_string(),
            errno_name(&res),
        ));
    }
    let dev = dest.join(DEV_PROBE);
    if std::fs::symlink_metadata(&dev)
        .map(|md| md.file_type().is_char_device())
        .unwrap_or(false)
    {
        let res = std::fs::File::open(&dev).map(|_| ());
        out.push(Check::eq(
            format!("{name}.nodev-behaviour"),
            if has("nodev") { "EACCES" } else { "ok" }.to_string(),
            errno_name(&res),
        ));
    }
    if has("ro") && probe_dir.is_dir() {
        if let Some(res) = write_probe(probe_dir, euid) {
            out.push(Check::eq(
                format!("{name}.ro-behaviour"),
                "EROFS".to_string(),
                errno_name(&res),
            ));
        }
    }
}

/// Creates and removes a new file in `dir`. On a read-only mount this fails
/// with EROFS before any permission check, whoever the caller is.
fn create_probe(dir: &Path) -> io::Result<()> {
    let path = dir.join(".berth-write-probe");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(path)
}

/// Tries to write somewhere under `dir`. Filesystems such as procfs answer a
/// create with ENOENT from lookup before the read-only check, so then open for
/// writing an existing file we own and may write (no data is written).
/// `None` when there is nothing to probe.
fn write_probe(dir: &Path, euid: u32) -> Option<io::Result<()>> {
    match create_probe(dir) {
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOENT as i32) => {
            let file = owned_writable_file(dir, euid, 2)?;
            Some(OpenOptions::new().write(true).open(file).map(|_| ()))
        }
        res => Some(res),
    }
}

fn owned_writable_file(dir: &Path, euid: u32, depth: u32) -> Option<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let mut subdirs = Vec::new();
    for e in entries {
        let Ok(md) = e.metadata() else { continue };
        if md.is_file()
            && std::os::unix::fs::MetadataExt::uid(&md) == euid
            && md.permissions().mode() & 0o200 != 0
        {
            return Some(e.path());
        }
        if md.is_dir() {
            subdirs.push(e.path());
        }
    }
    if depth == 0 {
        return None;
    }
    subdirs
        .iter()
        .find_map(|d| owned_writable_file(d, euid, depth - 1))
}

fn root_checks(obs: &Observer, mounts: &[MountInfo], out: &mut Vec<Check>) {
    let Some(root) = procfs::mount_at(mounts, "/") else {
        return out.push(Check::new("root.readonly", false, "a mount at /", "none"));
    };
    let want = if obs.spec.root.readonly { "ro" } else { "rw" };
    out.push(Check::new(
        "root.readonly.mountinfo",
        root.has_opt(want),
        want,
        root.mount_opts.join(","),
    ));
    if obs.spec.root.readonly {
        out.push(Check::eq(
            "root.readonly.write",
            "EROFS".to_string(),
            errno_name(&create_probe(Path::new("/"))),
        ));
    }
    if let Some(p) = &obs.spec.linux.rootfs_propagation {
        out.push(propagation_matches(
            "linux.rootfsPropagation",
            p.trim_start_matches('r'),
            root,
        ));
    }
}

/// A masked path must read as empty: an empty directory or a zero-length file.
fn masked_check(path: &str) -> Check {
    let name = format!("linux.maskedPaths[{path}]");
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Check::new(name, true, "empty or absent", "absent")
        }
        Err(e) => return Check::error(name, "empty or absent", e),
    };
    if md.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                Check::new(name, names.is_empty(), "empty directory", names)
            }
            Err(e) => Check::error(name, "empty directory", e),
        }
    } else {
        match std::fs::read(path) {
            Ok(bytes) => Check::new(
                name,
                bytes.is_empty(),
                "0 bytes",
                format!("{} bytes", bytes.len()),
            ),
            Err(e) => Check::error(name, "0 bytes", e),
        }
    }
}

fn readonly_checks(obs: &Observer, path: &str, mounts: &[MountInfo], out: &mut Vec<Check>) {
    let name = format!("linux.readonlyPaths[{path}]");
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return out.push(Check::new(name, true, "read-only or absent", "absent"))
        }
        Err(e) => return out.push(Check::error(name, "read-only", e)),
    };
    let flags = procfs::mount_at(mounts, path).map(|m| m.mount_opts.join(","));
    let ro = flags
        .as_deref()
        .is_some_and(|f| f.split(',').any(|o| o == "ro"));
    out.push(Check::new(
        format!("{name}.mountinfo"),
        ro,
        "ro mount",
        flags.unwrap_or_else(|| "not a mount point".into()),
    ));
    let res = if md.is_dir() {
        match write_probe(Path::new(path), obs.euid) {
            Some(res) => res,
            None => return,
        }
    } else if std::os::unix::fs::MetadataExt::uid(&md) == obs.euid
        && md.permissions().mode() & 0o200 != 0
    {
        // Only the owner can get past the permission check to the EROFS one.
        OpenOptions::new().write(true).open(path).map(|_| ())
    } else {
        return;
    };
    out.push(Check::eq(
        format!("{name}.write"),
        "EROFS".to_string(),
        errno_name(&res),
    ));
}

fn annotation_checks(obs: &Observer, mounts: &[MountInfo], out: &mut Vec<Check>) {
    let list = |key| {
        obs.annotation(key)
            .map(config::parse_list)
            .unwrap_or_default()
    };
    for path in list(ANN_EXPECT_MOUNTED) {
        let got = procfs::mount_at(mounts, &path).is_some();
        out.push(Check::eq(format!("expect-mounted[{path}]"), true, got));
    }
    for path in list(ANN_EXPECT_UNMOUNTED) {
        let got = procfs::mount_at(mounts, &path).is_some();
        out.push(Check::eq(format!("expect-unmounted[{path}]"), false, got));
    }
    for dir in list(ANN_BIND_MARKERS) {
        let got = std::fs::read_to_string(Path::new(&dir).join(MARKER_FILE))
            .unwrap_or_else(|e| format!("error: {e}"));
        out.push(Check::eq(
            format!("bind-marker[{dir}]"),
            MARKER_CONTENT.to_string(),
            got,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(optional: &[&str]) -> MountInfo {
        let line = format!("1 0 0:1 / /m rw {} - tmpfs t rw", optional.join(" "));
        procfs::parse_mountinfo(line.replace("rw  -", "rw -").as_str())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn propagation_is_read_from_optional_fields() {
        assert!(propagation_matches("p", "shared", &info(&["shared:3"])).ok);
        assert!(propagation_matches("p", "slave", &info(&["master:3"])).ok);
        assert!(!propagation_matches("p", "slave", &info(&["shared:4", "master:3"])).ok);
        assert!(propagation_matches("p", "private", &info(&[])).ok);
        assert!(!propagation_matches("p", "private", &info(&["shared:1"])).ok);
        assert!(propagation_matches("p", "unbindable", &info(&["unbindable"])).ok);
    }
}
