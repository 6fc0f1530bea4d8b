//! The shim's table of processes: the container's init (exec id "") and
//! its execs, with their status and exit. The reaper's sink records exits
//! here; an exit whose pid is not known yet (a process that died before
//! the runtime's pid file was read) is parked until the pid is set.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use containerd_shim_protos::api::Status as TaskStatus;

use super::io::{Attached, Stdio};
use crate::reaper::Exit;

/// Unclaimed exits kept: more than a shim ever has processes in flight.
const EARLY_EXITS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn task_status(self) -> TaskStatus {
        match self {
            Status::Created => TaskStatus::CREATED,
            Status::Running => TaskStatus::RUNNING,
            Status::Paused => TaskStatus::PAUSED,
            Status::Stopped => TaskStatus::STOPPED,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exited {
    pub code: u32,
    pub at: SystemTime,
}

#[derive(Debug)]
pub struct Proc {
    pub exec_id: String,
    pub stdio: Stdio,
    /// 0 until the runtime has started it.
    pub pid: i32,
    pub status: Status,
    pub exit: Option<Exited>,
    pub io: Option<Arc<Attached>>,
    /// An exec's runtime-spec Process JSON, until it starts.
    pub spec: Option<Vec<u8>>,
}

impl Proc {
    pub fn new(exec_id: &str, stdio: Stdio) -> Proc {
        Proc {
            exec_id: exec_id.to_string(),
            stdio,
            pid: 0,
            status: Status::Created,
            exit: None,
            io: None,
            spec: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Table {
    pub procs: HashMap<String, Proc>,
    early: VecDeque<(Exit, SystemTime)>,
}

impl Table {
    /// Records an exit; returns the exec id it belongs to, or parks it.
    pub fn record_exit(&mut self, e: Exit, at: SystemTime) -> Option<String> {
        let found = self
            .procs
            .values_mut()
            .find(|p| p.pid == e.pid && p.exit.is_none());
        match found {
            Some(p) => {
                p.exit = Some(Exited {
                    code: e.code as u32,
                    at,
                });
                p.status = Status::Stopped;
                Some(p.exec_id.clone())
            }
            None => {
                if self.early.len() == EARLY_EXITS {
                    self.early.pop_front();
                }
                self.early.push_back((e, at));
                None
            }
        }
    }

    /// Sets a process's pid; true when its exit had already been reaped
    /// (and is now recorded).
    pub fn set_pid(&mut self, exec_id: &str, pid: i32) -> bool {
        let early = self
            .early
            .iter()
            .position(|(e, _)| e.pid == pid)
            .and_then(|i| self.early.remove(i));
        let Some(p) = self.procs.get_mut(exec_id) else {
            return false;
        };
        p.pid = pid;
        match early {
            Some((e, at)) => {
                p.exit = Some(Exited {
                    code: e.code as u32,
                    at,
                });
                p.status = Status::Stopped;
                true
            }
            None => false,
        }
    }

    /// Moves a live process to `to` (a stopped one stays stopped: its exit
    /// may be recorded while the runtime call that started it returns).
    pub fn transition(&mut self, exec_id: &str, to: Status) {
        if let Some(p) = self.procs.get_mut(exec_id) {
            if p.status != Status::Stopped {
                p.status = to;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(pid: i32, code: i32) -> Exit {
        Exit {
            pid,
            code,
            signal: None,
        }
    }

    #[test]
    fn an_exit_reaped_before_the_pid_is_known_is_not_lost() {
        let mut t = Table::default();
        t.procs
            .insert("e1".into(), Proc::new("e1", Stdio::default()));
        assert_eq!(t.record_exit(exit(42, 3), SystemTime::UNIX_EPOCH), None);
        assert!(t.set_pid("e1", 42));
        let p = &t.procs["e1"];
        assert_eq!(p.status, Status::Stopped);
        assert_eq!(p.exit.unwrap().code, 3);
    }

    #[test]
    fn exits_find_their_process_and_stopped_stays_stopped() {
        let mut t = Table::default();
        t.procs
            .insert(String::new(), Proc::new("", Stdio::default()));
        assert!(!t.set_pid("", 7));
        t.transition("", Status::Running);
        assert_eq!(
            t.record_exit(exit(7, 137), SystemTime::now()).as_deref(),
            Some("")
        );
        t.transition("", Status::Running);
        assert_eq!(t.procs[""].status, Status::Stopped);
        assert_eq!(t.procs[""].status.task_status(), TaskStatus::STOPPED);
        // A second exit of the same pid (reused) is not this process's.
        assert_eq!(t.record_exit(exit(7, 0), SystemTime::now()), None);
    }
}
