//! Container status and how it is derived from the live system.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{State, EXEC_FIFO};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// Facts from /proc/<pid>/stat that decide whether a pid is still our init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) comes field 4; start time is field 22.
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

pub fn read_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// True while `pid` is the same live (not zombie) process that started at
/// `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match read_stat(pid) {
        Some(s) => s.start_time == start_time && !matches!(s.state, 'Z' | 'X' | 'x'),
        None => false,
    }
}

pub fn derive(state: &State, dir: &Path) -> Status {
    if !is_alive(state.pid, state.berth.init_start_time) {
        return Status::Stopped;
    }
    if dir.join(EXEC_FIFO).exists() {
        return Status::Created;
    }
    if crate::cgroups::is_frozen(&state.berth.cgroup_paths) {
        return Status::Paused;
    }
    Status::Running
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let line = "1234 (a) b (c) R 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'R');
        assert_eq!(s.start_time, 98765);
    }

    #[test]
    fn own_process_is_alive_and_others_are_not() {
        let me = std::process::id() as i32;
        let st = read_stat(me).unwrap();
        assert!(is_alive(me, st.start_time));
        assert!(
            !is_alive(me, st.start_time + 1),
            "recycled pid must read as dead"
        );
        assert!(!is_alive(0, 0));
    }
}
