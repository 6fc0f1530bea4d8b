//! OOM kills of the container: its memory cgroup is found at start from
//! `/proc/<init>/cgroup` (cgroup v1 `memory` controller, else the v2
//! unified hierarchy), and at exit its `oom_kill` counter (v1
//! `memory.oom_control`, v2 `memory.events`) is compared with the value
//! at start. Any kill in the cgroup counts, not only the init's: when the
//! kernel kills a child for memory the container was still OOM-killed.
//! Read before `delete`, which removes the cgroup.

use std::fs;
use std::path::{Path, PathBuf};

/// The counter file of one container's memory cgroup.
#[derive(Debug, Clone)]
pub struct OomWatch {
    file: PathBuf,
    start: u64,
}

impl OomWatch {
    /// Finds the memory cgroup of `pid`; `None` when it has none we can read.
    pub fn find(pid: i32) -> Option<Self> {
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let file = counter_file(&cgroup, &mountinfo)?;
        let start = read_oom_kill(&file)?;
        Some(OomWatch { file, start })
    }

    /// Whether the kernel OOM-killed anything in the cgroup since `find`.
    pub fn killed(&self) -> bool {
        read_oom_kill(&self.file).is_some_and(|n| n > self.start)
    }
}

fn read_oom_kill(file: &Path) -> Option<u64> {
    parse_oom_kill(&fs::read_to_string(file).ok()?)
}

/// The `oom_kill N` line of memory.oom_control or memory.events.
pub fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// The counter file for a process, from its `/proc/PID/cgroup` and our
/// mountinfo: v1 memory first (on a hybrid host the v2 tree has no
/// memory controller), then v2.
pub fn counter_file(cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let mut v2 = None;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            let mnt = mount_point(mountinfo, |fstype, opts| {
                fstype == "cgroup" && opts.split(',').any(|o| o == "memory")
            })?;
            return Some(mnt.join(rel).join("memory.oom_control"));
        }
        if controllers.is_empty() {
            v2 = Some(rel.to_string());
        }
    }
    let rel = v2?;
    let mnt = mount_point(mountinfo, |fstype, _| fstype == "cgroup2")?;
    let file = mnt.join(rel).join("memory.events");
    // Only when the memory controller is on for that cgroup.
    file.exists().then_some(file)
}

/// The first mount whose type and super options satisfy `want`.
fn mount_point(mountinfo: &str, want: impl Fn(&str, &str) -> bool) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut r = right.split(' ');
        let (fstype, _source, opts) = (r.next()?, r.next()?, r.next().unwrap_or(""));
        let point = left.split(' ').nth(4)?;
        want(fstype, opts).then(|| PathBuf::from(point))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
";

    #[test]
    fn v1_memory_wins_on_a_hybrid_host() {
        let cg = "12:pids:/berth/c1\n5:memory:/berth/c1\n0::/berth/c1\n";
        assert_eq!(
            counter_file(cg, MOUNTINFO).unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/berth/c1/memory.oom_control")
        );
    }

    #[test]
    fn a_v2_cgroup_without_the_memory_controller_has_no_counter() {
        // Hybrid host: only the unified line, and no memory.events there.
        let cg = "0::/no/such/cgroup/for/berth-shim\n";
        assert_eq!(counter_file(cg, MOUNTINFO), None);
        // A v2 line pointing at a dir whose memory.events exists is used.
        let dir = std::env::temp_dir().join(format!("berth-shim-oom-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("c1")).unwrap();
        std::fs::write(dir.join("c1/memory.events"), "oom_kill 0\n").unwrap();
        let mi = format!("31 25 0:27 / {} rw - cgroup2 cgroup2 rw\n", dir.display());
        assert_eq!(
            counter_file("0::/c1\n", &mi),
            Some(dir.join("c1/memory.events"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_oom_kill_counter_is_read_from_either_file() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kill(v1), Some(2));
        assert_eq!(parse_oom_kill(v2), Some(1));
        assert_eq!(parse_oom_kill("oom 1\n"), None);
    }
}
