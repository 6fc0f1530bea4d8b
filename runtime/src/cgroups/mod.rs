//! Placing a container in cgroups and removing them again, on cgroup v1,
//! v2 (unified) and hybrid hosts, chosen by what the host mounts.
//!
//! Each version is a [`Manager`]; [`detect`] reads /proc/self/mountinfo once
//! into a [`Layout`], which tests build by hand over a temp dir instead.

mod apply;
pub mod devices;
pub mod oom;
pub mod resources;
pub mod stats;
pub mod systemd;
pub mod v1;
pub mod v2;

use std::io;
use std::path::{Path, PathBuf};

pub use apply::apply;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
    #[error(transparent)]
    Resource(#[from] resources::ResourceError),
    /// A field of linux.resources that this host cannot honour, or whose
    /// value the kernel refused.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("{0}")]
    Systemd(String),
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One v1 hierarchy: where it is mounted and which controllers it carries
/// (`name=systemd` for named hierarchies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub mountpoint: PathBuf,
    pub controllers: Vec<String>,
}

/// How the host mounts cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// v1 hierarchies, plus the v2 hierarchy on hybrid hosts.
    V1 {
        hierarchies: Vec<V1Hierarchy>,
        unified: Option<PathBuf>,
    },
    /// cgroup2 only.
    V2 { root: PathBuf },
}

/// Reads the cgroup mounts from mountinfo text.
pub fn parse_mountinfo(text: &str) -> Option<Layout> {
    let mut v1 = Vec::new();
    let mut v2 = None;
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = pre.split(' ').nth(4).map(unescape);
        let mut post = post.split(' ');
        let fstype = post.next();
        let super_opts = post.nth(1).unwrap_or("");
        match (fstype, mountpoint) {
            (Some("cgroup2"), Some(mp)) if v2.is_none() => v2 = Some(PathBuf::from(mp)),
            (Some("cgroup"), Some(mp)) => {
                let controllers: Vec<String> = super_opts
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "relatime"
                                | "noatime"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "clone_children"
                                | "xattr"
                        ) && !o.starts_with("release_agent=")
                    })
                    .map(str::to_string)
                    .collect();
                if !v1
                    .iter()
                    .any(|h: &V1Hierarchy| h.mountpoint == Path::new(&mp))
                {
                    v1.push(V1Hierarchy {
                        mountpoint: PathBuf::from(mp),
                        controllers,
                    });
                }
            }
            _ => {}
        }
    }
    match (v1.is_empty(), v2) {
        (true, Some(root)) => Some(Layout::V2 { root }),
        (false, unified) => Some(Layout::V1 {
            hierarchies: v1,
            unified,
        }),
        (true, None) => None,
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Reads the host's cgroup layout.
pub fn detect() -> Result<Layout, CgroupError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err("read", Path::new("/proc/self/mountinfo")))?;
    parse_mountinfo(&text).ok_or(CgroupError::NoHierarchy)
}

/// Where a container's cgroups are, per hierarchy; rebuilt from the paths
/// in its state by [`Placement::from_paths`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// v1 hierarchies: their controllers and the container's directory.
    pub v1: Vec<(Vec<String>, PathBuf)>,
    /// The v2 directory: the only one on a v2 host, the unified one on a
    /// hybrid host (which carries no controllers there).
    pub v2: Option<PathBuf>,
}

impl Placement {
    /// Matches each stored path to the hierarchy it lies in.
    pub fn from_paths(layout: &Layout, paths: &[PathBuf]) -> Placement {
        let mut out = Placement::default();
        match layout {
            Layout::V2 { .. } => out.v2 = paths.first().cloned(),
            Layout::V1 {
                hierarchies,
                unified,
            } => {
                for p in paths {
                    if let Some(h) = hierarchies.iter().find(|h| p.starts_with(&h.mountpoint)) {
                        out.v1.push((h.controllers.clone(), p.clone()));
                    } else if unified.as_ref().is_some_and(|u| p.starts_with(u)) {
                        out.v2 = Some(p.clone());
                    }
                }
            }
        }
        out
    }

    /// The version resources are written for: v1 whenever v1 hierarchies exist.
    pub fn version(&self) -> resources::Version {
        match self.v1.is_empty() {
            true => resources::Version::V2,
            false => resources::Version::V1,
        }
    }

    /// The directory holding `controller`'s files (v1: its hierarchy; v2:
    /// the one directory).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        if self.v1.is_empty() {
            return self.v2.as_deref();
        }
        self.v1
            .iter()
            .find(|(c, _)| c.iter().any(|x| x == controller))
            .map(|(_, p)| p.as_path())
    }

    /// Every directory, v1 hierarchies first.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.iter().map(|(_, p)| p.clone()).collect();
        v.extend(self.v2.clone());
        v
    }
}

/// A container's cgroups on one kind of host.
pub trait Manager {
    /// Creates the container's cgroup directories.
    fn create(&self) -> Result<(), CgroupError>;
    /// Moves `pid` into them.
    fn add(&self, pid: i32) -> Result<(), CgroupError>;
    /// Applies `linux.resources`, and the device rules when given (update
    /// leaves the device cgroup as it is).
    fn apply(
        &self,
        res: &oci_spec::runtime::LinuxResources,
        devices: Option<&[devices::Rule]>,
    ) -> Result<(), CgroupError>;
    /// Every directory, one per hierarchy (persisted in the state).
    fn paths(&self) -> Vec<PathBuf>;
    /// Removes the directories; missing ones are fine.
    fn destroy(&self) -> Result<(), CgroupError>;
}

/// The container path inside each hierarchy: absolute `cgroupsPath` as is,
/// relative ones below `own` (the caller's cgroup in that hierarchy, as runc
/// does), and `/berth/<id>` when the config has none.
pub fn container_path(cgroups_path: Option<&str>, id: &str, own: &str) -> String {
    match cgroups_path {
        Some(p) if p.starts_with('/') => clean(p),
        Some(p) if !p.is_empty() => clean(&format!("{own}/{p}")),
        _ => format!("/berth/{id}"),
    }
}

fn clean(p: &str) -> String {
    crate::spec::plan::clean_absolute(Path::new(p))
        .to_string_lossy()
        .into_owned()
}

/// The caller's own cgroup for a v1 controller (or the v2 one with `None`),
/// from /proc/self/cgroup text.
pub fn own_cgroup(proc_self_cgroup: &str, controller: Option<&str>) -> String {
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("/"),
        );
        let hit = match controller {
            None => ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        if hit {
            return path.to_string();
        }
    }
    "/".to_string()
}

/// Builds the manager for this host layout.
pub fn manager(layout: &Layout, cgroups_path: Option<&str>, id: &str) -> Box<dyn Manager> {
    // Our own cgroup only matters for a relative cgroupsPath: spare the
    // start path the read otherwise.
    let relative = cgroups_path.is_some_and(|p| !p.is_empty() && !p.starts_with('/'));
    let self_cgroup = match relative {
        true => std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        false => String::new(),
    };
    match layout {
        Layout::V1 {
            hierarchies,
            unified,
        } => Box::new(v1::V1Manager::new(
            hierarchies,
            unified.as_deref(),
            cgroups_path,
            id,
            &self_cgroup,
        )),
        Layout::V2 { root } => Box::new(v2::V2Manager::new(
            root,
            &container_path(cgroups_path, id, &own_cgroup(&self_cgroup, None)),
        )),
    }
}

/// The placement of an existing container, from the paths in its state.
pub fn open(paths: &[PathBuf]) -> Result<Placement, CgroupError> {
    Ok(Placement::from_paths(&detect()?, paths))
}

/// Removes the cgroup directories recorded in a container's state, with any
/// sub-cgroups the container made (deepest first; rmdir needs them empty).
pub fn destroy_paths(paths: &[PathBuf]) -> Result<(), CgroupError> {
    for p in paths {
        remove_tree(p)?;
    }
    Ok(())
}

fn remove_tree(p: &Path) -> Result<(), CgroupError> {
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path())?;
            }
        }
    }
    remove_dir_retry(p)
}

/// rmdir of a cgroup fails with EBUSY for a moment after its last process
/// exits (the kernel finishes the exit asynchronously), so retry briefly.
pub(crate) fn remove_dir_retry(p: &Path) -> Result<(), CgroupError> {
    for attempt in 0..100 {
        match std::fs::remove_dir(p) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 99 => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => {
                return Err(CgroupError::Io {
                    op: "remove",
                    path: p.to_path_buf(),
                    source: e,
                })
            }
        }
    }
    Ok(())
}

/// The pids in the container's cgroup and every sub-cgroup (from the first
/// readable hierarchy).
pub fn pids(paths: &[PathBuf]) -> Result<Vec<i32>, CgroupError> {
    let mut last = None;
    for p in paths {
        let mut out = Vec::new();
        match collect_pids(p, &mut out) {
            Ok(()) => return Ok(out),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(Vec::new()),
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let f = dir.join("cgroup.procs");
    let text = std::fs::read_to_string(&f).map_err(io_err("read", &f))?;
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_pids(&e.path(), out)?;
            }
        }
    }
    Ok(())
}

/// Whether the kernel's OOM killer has killed a process in the container's
/// memory cgroup (v1 memory.oom_control, v2 memory.events).
pub fn oom_killed(paths: &[PathBuf]) -> bool {
    let count = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    paths.iter().any(|p| {
        ["memory.oom_control", "memory.events"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(p.join(f)).ok())
            .any(|t| count(&t) > 0)
    })
}

/// Whether the container's cgroup is frozen (v1 freezer or v2 cgroup.freeze).
pub fn is_frozen(paths: &[PathBuf]) -> bool {
    for p in paths {
        if let Ok(s) = std::fs::read_to_string(p.join("freezer.state")) {
            return s.trim() == "FROZEN";
        }
        if let Ok(s) = std::fs::read_to_string(p.join("cgroup.freeze")) {
            if s.trim() == "1" {
                return true;
            }
        }
    }
    false
}

/// Kills every process in the container's cgroup tree at once through
/// `cgroup.kill` (v2, also present in the unified hierarchy of hybrid hosts).
/// None when the kernel or layout has no such file.
pub fn kill_tree(paths: &[PathBuf]) -> Option<Result<(), CgroupError>> {
    let f = paths
        .iter()
        .map(|p| p.join("cgroup.kill"))
        .find(|f| f.exists())?;
    Some(std::fs::write(&f, "1").map_err(io_err("write", &f)))
}

/// Freezes the container's cgroup and waits until the kernel reports it
/// frozen, so that its set of processes cannot change. Returns false when
/// there is no freezer to use.
pub fn freeze(paths: &[PathBuf]) -> Result<bool, CgroupError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let wait = |check: &dyn Fn() -> bool| {
        while !check() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    };
    if let Some(p) = paths.iter().find(|p| p.join("freezer.state").exists()) {
        let f = p.join("freezer.state");
        std::fs::write(&f, "FROZEN").map_err(io_err("write", &f))?;
        return Ok(wait(&|| {
            std::fs::read_to_string(&f)
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(false)
        }));
    }
    if let Some(p) = paths.iter().find(|p| p.join("cgroup.freeze").exists()) {
        let f = p.join("cgroup.freeze");
        std::fs::write(&f, "1").map_err(io_err("write", &f))?;
        let events = p.join("cgroup.events");
        return Ok(wait(&|| {
            std::fs::read_to_string(&events)
                .map(|s| s.lines().any(|l| l == "frozen 1"))
                .unwrap_or(false)
        }));
    }
    Ok(false)
}

/// Thaws a frozen container cgroup (so that SIGKILL can be delivered).
pub fn thaw(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::write(p.join("freezer.state"), "THAWED");
        let _ = std::fs::write(p.join("cgroup.freeze"), "0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid shared:14 - cgroup cgroup rw,cpuset,clone_children
";

    #[test]
    fn hybrid_host_is_v1_with_unified() {
        let Layout::V1 {
            hierarchies,
            unified,
        } = parse_mountinfo(HYBRID).unwrap()
        else {
            panic!()
        };
        assert_eq!(unified.unwrap(), PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(hierarchies.len(), 3);
        assert_eq!(hierarchies[0].controllers, vec!["name=systemd"]);
        assert_eq!(hierarchies[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(hierarchies[2].controllers, vec!["cpuset"]);
    }

    #[test]
    fn pure_v2_host() {
        let text = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            parse_mountinfo(text).unwrap(),
            Layout::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
        assert_eq!(parse_mountinfo("1 1 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn container_paths() {
        assert_eq!(container_path(Some("/a/b"), "c", "/user"), "/a/b");
        assert_eq!(
            container_path(Some("x/y"), "c", "/user.slice"),
            "/user.slice/x/y"
        );
        assert_eq!(container_path(None, "c", "/"), "/berth/c");
        assert_eq!(container_path(Some("/a/../../b"), "c", "/"), "/b");
    }

    #[test]
    fn own_cgroup_lookup() {
        let text = "12:pids:/p\n4:cpu,cpuacct:/c\n1:name=systemd:/s\n0::/u\n";
        assert_eq!(own_cgroup(text, Some("cpuacct")), "/c");
        assert_eq!(own_cgroup(text, Some("name=systemd")), "/s");
        assert_eq!(own_cgroup(text, None), "/u");
        assert_eq!(own_cgroup(text, Some("memory")), "/");
    }

    #[test]
    fn mountinfo_octal_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
