//! OOM notices for /tasks/oom (CRI reports a container the kernel
//! OOM-killed as "OOMKilled" from it). The shim watches the memory cgroup
//! of the container's init itself, as runc's shim does: on cgroup v1 an
//! eventfd registered through `cgroup.event_control` for
//! `memory.oom_control` (it also fires when the cgroup is removed, which
//! ends the watch); on cgroup v2 inotify on `memory.events`, whose
//! `oom_kill` counter grows. One small thread per container.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

const STACK: usize = 64 * 1024;

/// Where a process's memory cgroup is, from /proc/PID/cgroup's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryCgroup {
    V1(PathBuf),
    V2(PathBuf),
}

/// Parses /proc/PID/cgroup: the v1 memory hierarchy wins (a hybrid host
/// has a unified line too, without the memory controller).
pub fn memory_cgroup(proc_cgroup: &str, mount: &Path) -> Option<MemoryCgroup> {
    let mut unified = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "memory") {
            return Some(MemoryCgroup::V1(mount.join("memory").join(rel)));
        }
        if id == "0" && ctrls.is_empty() {
            unified = Some(MemoryCgroup::V2(mount.join(rel)));
        }
    }
    unified
}

/// The `oom_kill` count of a v2 `memory.events`.
pub fn oom_kills(memory_events: &str) -> u64 {
    crate::monitor::oom::parse_oom_kill(memory_events).unwrap_or(0)
}

/// Starts watching `pid`'s memory cgroup; `on_oom` runs on each OOM kill.
/// A host without a memory controller for it is not an error: no watch.
pub fn watch(pid: i32, on_oom: impl Fn() + Send + 'static) -> io::Result<()> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let Some(cg) = memory_cgroup(&text, Path::new("/sys/fs/cgroup")) else {
        return Ok(());
    };
    match cg {
        MemoryCgroup::V1(dir) => {
            if !dir.join("memory.oom_control").exists() {
                return Ok(());
            }
            let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(io::Error::from)?;
            let control = File::open(dir.join("memory.oom_control"))?;
            let mut ev = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.event_control"))?;
            // One write(2): the kernel parses each write on its own.
            ev.write_all(format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()).as_bytes())?;
            std::thread::Builder::new()
                .name("oom".into())
                .stack_size(STACK)
                .spawn(move || {
                    let _control = control;
                    while efd.read().is_ok() {
                        // The same notice says "removed": then stop.
                        if !dir.exists() {
                            break;
                        }
                        on_oom();
                    }
                })?;
        }
        MemoryCgroup::V2(dir) => {
            let events = dir.join("memory.events");
            let Ok(start) = std::fs::read_to_string(&events) else {
                return Ok(());
            };
            let ino = Inotify::init(InitFlags::IN_CLOEXEC).map_err(io::Error::from)?;
            ino.add_watch(&events, AddWatchFlags::IN_MODIFY)
                .map_err(io::Error::from)?;
            std::thread::Builder::new()
                .name("oom".into())
                .stack_size(STACK)
                .spawn(move || {
                    let mut seen = oom_kills(&start);
                    while let Ok(evs) = ino.read_events() {
                        if evs
                            .iter()
                            .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED))
                        {
                            break;
                        }
                        let Ok(now) = std::fs::read_to_string(&events) else {
                            break;
                        };
                        let n = oom_kills(&now);
                        if n > seen {
                            seen = n;
                            on_oom();
                        }
                    }
                })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_memory_hierarchy_wins_on_a_hybrid_host() {
        let text = "12:pids:/ns/c1\n9:memory:/ns/c1\n0::/ns/c1\n";
        assert_eq!(
            memory_cgroup(text, Path::new("/sys/fs/cgroup")),
            Some(MemoryCgroup::V1("/sys/fs/cgroup/memory/ns/c1".into()))
        );
        assert_eq!(
            memory_cgroup("0::/k8s/c2\n", Path::new("/sys/fs/cgroup")),
            Some(MemoryCgroup::V2("/sys/fs/cgroup/k8s/c2".into()))
        );
        assert_eq!(memory_cgroup("", Path::new("/x")), None);
    }

    #[test]
    fn oom_kill_counter_is_read_from_memory_events() {
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n"), 1);
        assert_eq!(oom_kills("low 0\n"), 0);
    }
}
