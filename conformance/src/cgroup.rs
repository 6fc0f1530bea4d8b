//! Cgroup facts shared by the driver and the checker: the expectations the
//! driver computes for the host's cgroup version and passes in annotations,
//! how a process finds its own cgroup directory (`/proc/self/cgroup` plus the
//! mounted hierarchy, which works with and without a cgroup namespace), and
//! runc's v1 → v2 value conversions.

use serde::{Deserialize, Serialize};

use crate::procfs::MountInfo;

/// Annotation: JSON list of [`Expect`] the checker compares right away.
pub const ANN_CGROUP_EXPECT: &str = "conformance.berth/cgroup-expect";
/// Annotation: JSON list of [`Expect`] compared after the driver ran
/// `update` and sent SIGUSR1 (the checker waits for it when this is set).
pub const ANN_CGROUP_EXPECT_UPDATE: &str = "conformance.berth/cgroup-expect-update";
/// File the checker creates inside the rootfs once its first pass is done and
/// SIGUSR1 is blocked; the driver waits for it before running `update`.
pub const READY_FILE: &str = "/conformance/cgroup-ready";

/// How a file's content is compared (after squashing whitespace runs).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Match {
    /// The whole content equals the value.
    Whole,
    /// Some line of the content equals the value.
    Line,
}

/// One cgroup file the kernel must show with a value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expect {
    /// v1 controller whose hierarchy holds the files; empty on cgroup v2.
    pub controller: String,
    /// `(file, value)` alternatives: the first file that exists is compared
    /// (runc writes `io.bfq.weight` when BFQ has it, else `io.weight`).
    pub files: Vec<(String, String)>,
    pub matching: Match,
}

impl Expect {
    pub fn whole(controller: &str, file: &str, value: impl ToString) -> Expect {
        Expect {
            controller: controller.to_string(),
            files: vec![(file.to_string(), value.to_string())],
            matching: Match::Whole,
        }
    }

    pub fn line(controller: &str, file: &str, value: impl ToString) -> Expect {
        Expect {
            matching: Match::Line,
            ..Expect::whole(controller, file, value)
        }
    }

    /// Adds an alternative file, compared only if the earlier ones are absent.
    pub fn or(mut self, file: &str, value: impl ToString) -> Expect {
        self.files.push((file.to_string(), value.to_string()));
        self
    }

    /// The check's name: `cgroup[memory.max]`.
    pub fn label(&self) -> String {
        let names: Vec<&str> = self.files.iter().map(|(f, _)| f.as_str()).collect();
        format!("cgroup[{}]", names.join("|"))
    }
}

/// Whether `content` satisfies `want` under `matching`.
pub fn matches(content: &str, want: &str, matching: Match) -> bool {
    let want = squash(want);
    match matching {
        Match::Whole => squash(content) == want,
        Match::Line => content.lines().any(|l| squash(l) == want),
    }
}

pub fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CgroupError {
    #[error("/proc/self/cgroup has no line for controller {0:?}")]
    NoLine(String),
    #[error("no cgroup mount for controller {0:?} holds {1}")]
    NoMount(String, String),
}

/// The directory holding this process's cgroup files for `controller` (a v1
/// subsystem, or "" for the v2 hierarchy), from `/proc/self/cgroup` text and
/// the parsed mountinfo. The mount whose root is the longest prefix of the
/// cgroup path wins: a cgroup namespace or a runtime's bind mount of the
/// container's own directory both show up as a mount root.
pub fn own_dir(
    proc_cgroup: &str,
    mounts: &[MountInfo],
    controller: &str,
) -> Result<String, CgroupError> {
    let path = proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
        .find(|(hier, ctrls, _)| {
            if controller.is_empty() {
                *hier == "0" && ctrls.is_empty()
            } else {
                ctrls.split(',').any(|c| c == controller)
            }
        })
        .map(|(_, _, p)| p.to_string())
        .ok_or_else(|| CgroupError::NoLine(controller.to_string()))?;
    let best = mounts
        .iter()
        .filter(|m| {
            if controller.is_empty() {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == controller)
            }
        })
        .filter_map(|m| {
            let rel = relative(&path, &m.root)?;
            Some((m.root.len(), m, rel))
        })
        .max_by_key(|(len, _, _)| *len);
    match best {
        Some((_, m, rel)) if rel.is_empty() => Ok(m.mount_point.clone()),
        Some((_, m, rel)) => Ok(format!("{}/{rel}", m.mount_point.trim_end_matches('/'))),
        None => Err(CgroupError::NoMount(controller.to_string(), path)),
    }
}

/// `path` below `root`, without leading slash; None if it is not below it.
fn relative(path: &str, root: &str) -> Option<String> {
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    Some(rest.trim_start_matches('/').to_string())
}

/// runc's cpu.shares → cpu.weight conversion (linear, [2, 262144] → [1, 10000]).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// runc's blkio.weight → io.weight conversion ([10, 1000] → [1, 10000]).
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10) * 9999) / 990
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::parse_mountinfo;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    #[test]
    fn own_dir_handles_bind_mounted_and_namespaced_views() {
        let mi = "\
32 31 0:29 /runc-1 /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory
33 31 0:30 / /sys/fs/cgroup/cpu ro,relatime - cgroup cgroup rw,cpu,cpuacct
41 23 0:38 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw
";
        let mounts = parse_mountinfo(mi).unwrap();
        let pc = "4:memory:/runc-1\n2:cpu,cpuacct:/\n0::/a/b\n";
        assert_eq!(
            own_dir(pc, &mounts, "memory").unwrap(),
            "/sys/fs/cgroup/memory"
        );
        assert_eq!(own_dir(pc, &mounts, "cpu").unwrap(), "/sys/fs/cgroup/cpu");
        assert_eq!(own_dir(pc, &mounts, "").unwrap(), "/sys/fs/cgroup/a/b");
        assert!(matches!(
            own_dir(pc, &mounts, "pids"),
            Err(CgroupError::NoLine(_))
        ));
        let outside = "4:memory:/other\n";
        assert!(matches!(
            own_dir(outside, &mounts, "memory"),
            Err(CgroupError::NoMount(..))
        ));
        assert_eq!(relative("/runc-10", "/runc-1"), None);
    }

    #[test]
    fn matching_squashes_whitespace() {
        assert!(matches("50000  100000\n", "50000 100000", Match::Whole));
        assert!(!matches("50000 100000", "50000", Match::Whole));
        assert!(matches(
            "oom_kill_disable 1\nunder_oom 0\n",
            "oom_kill_disable 1",
            Match::Line
        ));
        assert!(!matches(
            "oom_kill_disable 0\n",
            "oom_kill_disable 1",
            Match::Line
        ));
        let e = Expect::whole("", "io.bfq.weight", "default 300").or("io.weight", "default 2930");
        assert_eq!(e.label(), "cgroup[io.bfq.weight|io.weight]");
    }
}
