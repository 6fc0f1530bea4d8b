//! Reaping: the shim is a child subreaper, so the container's init (whose
//! parent, the runtime's `create`, exits) and every detached exec come back
//! to it. Exit statuses are reported as shells and runc do: the code, or
//! 128+N for a process killed by signal N.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Makes this process the subreaper of its descendants.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// A reaped child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub pid: i32,
    /// The code, or 128+N for signal N.
    pub code: i32,
    /// Killed by this signal (`None` when it exited).
    pub signal: Option<i32>,
}

/// Maps a wait status to an [`Exit`]; `None` for stops and continues.
pub fn exit_of(status: WaitStatus) -> Option<Exit> {
    match status {
        WaitStatus::Exited(pid, code) => Some(Exit {
            pid: pid.as_raw(),
            code,
            signal: None,
        }),
        WaitStatus::Signaled(pid, sig, _) => Some(Exit {
            pid: pid.as_raw(),
            code: 128 + sig as i32,
            signal: Some(sig as i32),
        }),
        _ => None,
    }
}

/// Reaps every child that has exited, without blocking.
pub fn reap_exited() -> Vec<Exit> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(s) => out.extend(exit_of(s)),
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn signals_map_to_128_plus_n() {
        let p = Pid::from_raw(7);
        assert_eq!(
            exit_of(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some(Exit {
                pid: 7,
                code: 137,
                signal: Some(9)
            })
        );
        assert_eq!(
            exit_of(WaitStatus::Exited(p, 3)),
            Some(Exit {
                pid: 7,
                code: 3,
                signal: None
            })
        );
        assert_eq!(exit_of(WaitStatus::Stopped(p, Signal::SIGSTOP)), None);
    }
}
