//! Notice of the kernel OOM-killing inside a container's memory cgroup.
//!
//! v1: an eventfd registered through `cgroup.event_control` against
//! `memory.oom_control`; the kernel signals it on each OOM in the cgroup,
//! and once more when the cgroup is removed. v2: inotify on
//! `memory.events`, comparing its `oom_kill` counter with the last value
//! seen. Either way the watcher is only an fd to poll plus [`OomWatcher::drain`]
//! to call when it is readable: the caller owns the wait (and whatever else
//! it waits for alongside).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::resources::Version;
use super::stats::value_of;
use super::Placement;

#[derive(Debug, thiserror::Error)]
pub enum OomError {
    #[error("oom notification: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("oom notification: {op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: Errno,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OomError + 'a {
    move |source| OomError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn sys_err(op: &'static str) -> impl FnOnce(Errno) -> OomError {
    move |source| OomError::Sys { op, source }
}

/// What a readable watcher fd meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The kernel hit OOM in the cgroup (v1) or killed for it (v2).
    Oom,
    /// The cgroup is gone: nothing more will come.
    Gone,
    /// A wake-up with nothing to report (another key of memory.events).
    Nothing,
}

/// A registered OOM notification on one memory cgroup.
pub struct OomWatcher {
    kind: Kind,
}

enum Kind {
    V1 {
        efd: EventFd,
        // The registration refers to this fd; it must stay open.
        _oom_control: File,
        event_control: PathBuf,
    },
    V2 {
        inotify: Inotify,
        events: PathBuf,
        last: u64,
    },
}

impl OomWatcher {
    /// Registers for OOM notices on the container's memory cgroup; None
    /// when it has none (no memory controller in the placement).
    pub fn open(placement: &Placement) -> Result<Option<OomWatcher>, OomError> {
        let Some(dir) = placement.dir("memory") else {
            return Ok(None);
        };
        match placement.version() {
            Version::V1 => Self::open_v1(dir),
            Version::V2 => Self::open_v2(dir),
        }
    }

    fn open_v1(dir: &Path) -> Result<Option<OomWatcher>, OomError> {
        let control = dir.join("memory.oom_control");
        let oom_control = match File::open(&control) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &control)(e)),
        };
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(sys_err("eventfd"))?;
        let event_control = dir.join("cgroup.event_control");
        let line = format!("{} {}", efd.as_fd().as_raw_fd(), oom_control.as_raw_fd());
        std::fs::write(&event_control, line).map_err(io_err("write", &event_control))?;
        Ok(Some(OomWatcher {
            kind: Kind::V1 {
                efd,
                _oom_control: oom_control,
                event_control,
            },
        }))
    }

    /// Also used by tests over a plain directory: inotify works on any file.
    fn open_v2(dir: &Path) -> Result<Option<OomWatcher>, OomError> {
        let events = dir.join("memory.events");
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(sys_err("inotify_init"))?;
        match inotify.add_watch(
            &events,
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_DELETE_SELF,
        ) {
            Ok(_) => {}
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(sys_err("inotify_add_watch")(e)),
        }
        // Count only kills from now on.
        let last = oom_kills(&events).unwrap_or(0);
        Ok(Some(OomWatcher {
            kind: Kind::V2 {
                inotify,
                events,
                last,
            },
        }))
    }

    /// Reads what woke the fd; never blocks.
    pub fn drain(&mut self) -> Result<Notice, OomError> {
        match &mut self.kind {
            Kind::V1 {
                efd, event_control, ..
            } => match efd.read() {
                // The removal of the cgroup signals the eventfd too; tell
                // it apart by the control file being gone.
                Ok(_) if !event_control.exists() => Ok(Notice::Gone),
                Ok(_) => Ok(Notice::Oom),
                Err(Errno::EAGAIN) => Ok(Notice::Nothing),
                Err(e) => Err(sys_err("read eventfd")(e)),
            },
            Kind::V2 {
                inotify,
                events,
                last,
            } => {
                let mut gone = false;
                match inotify.read_events() {
                    Ok(evs) => {
                        gone = evs.iter().any(|e| {
                            e.mask.intersects(
                                AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF,
                            )
                        })
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(e) => return Err(sys_err("read inotify")(e)),
                }
                match oom_kills(events) {
                    Some(n) if n > *last => {
                        *last = n;
                        Ok(Notice::Oom)
                    }
                    _ if gone => Ok(Notice::Gone),
                    _ => Ok(Notice::Nothing),
                }
            }
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::V1 { efd, .. } => efd.as_fd(),
            Kind::V2 { inotify, .. } => inotify.as_fd(),
        }
    }
}

/// The `oom_kill` counter of a memory.events file.
fn oom_kills(events: &Path) -> Option<u64> {
    value_of(&std::fs::read_to_string(events).ok()?, "oom_kill")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    fn readable(w: &OomWatcher, ms: u16) -> bool {
        let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap() > 0
    }

    const EVENTS: &str = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";

    /// inotify works on any file, so a temp dir stands in for a v2 cgroup.
    #[test]
    fn v2_reports_an_increase_of_oom_kill_only() {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("memory.events");
        std::fs::write(&events, EVENTS).unwrap();
        let mut w = OomWatcher::open_v2(tmp.path()).unwrap().unwrap();
        assert!(!readable(&w, 0), "the kill before watching is not news");

        std::fs::write(&events, EVENTS.replace("max 3", "max 4")).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(w.drain().unwrap(), Notice::Nothing);

        std::fs::write(&events, EVENTS.replace("oom_kill 1", "oom_kill 2")).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(w.drain().unwrap(), Notice::Oom);
        assert_eq!(w.drain().unwrap(), Notice::Nothing, "drained");

        std::fs::remove_file(&events).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(w.drain().unwrap(), Notice::Gone);
    }

    #[test]
    fn no_memory_cgroup_means_no_watcher() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(OomWatcher::open_v2(tmp.path()).unwrap().is_none());
        assert!(OomWatcher::open(&Placement::default()).unwrap().is_none());
    }
}
