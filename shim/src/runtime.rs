//! The runtime's command line: runc's CLI contract, spoken to any binary
//! that keeps it (berth, runc, crun).
//!
//! Argument lists are built by pure functions (unit-tested); running them
//! goes through a [`Launcher`], so a face whose reaper calls `waitpid(-1)`
//! (the containerd face) can route the runtime's own exit status back to
//! the caller instead of losing it. Every call passes `--log FILE
//! --log-format json`, so the runtime's error reaches us even when its
//! stderr is the container's, and is reported as its last `error` line.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{runtime} {op}: {source}")]
    Spawn {
        runtime: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{runtime} {op} {id}: {message}")]
    Failed {
        runtime: String,
        op: &'static str,
        id: String,
        /// The runtime's last error line (or its stderr, or its status).
        message: String,
    },
    #[error("{runtime} {op} {id}: unreadable output: {detail}")]
    Output {
        runtime: String,
        op: &'static str,
        id: String,
        detail: String,
    },
}

/// Runs a prepared runtime command to completion.
pub trait Launcher {
    /// Runs `cmd`, returning its status and captured stdout (stderr too
    /// when the command's stderr was left to capture).
    fn output(&self, cmd: &mut Command) -> io::Result<Output>;
}

/// Runs the command with `std::process`: right for a caller that does not
/// reap children with `waitpid(-1)` while the command runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Direct;

impl Launcher for Direct {
    fn output(&self, cmd: &mut Command) -> io::Result<Output> {
        cmd.output()
    }
}

/// The stdio a created container (or exec'd process) gets: the runtime
/// hands its own stdin/stdout/stderr on to the process when there is no
/// terminal, so these become the runtime command's stdio.
#[derive(Debug, Default)]
pub struct ProcessIo {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Options of `create` (and the create half of `run`).
#[derive(Debug, Default)]
pub struct CreateOpts {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub io: ProcessIo,
}

/// Options of `exec`: always `--detach`, so the process is the shim's
/// child (through the subreaper) and not the runtime's.
#[derive(Debug, Default)]
pub struct ExecOpts {
    /// A runtime-spec Process JSON file.
    pub process: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub io: ProcessIo,
}

/// What `state` reports (runc's state JSON; fields the shim uses).
#[derive(Debug, Clone, serde::Deserialize, PartialEq, Eq)]
pub struct State {
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: String,
}

/// One runtime binary and its global flags.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    /// `--root`; the runtime's default when `None`.
    pub root: Option<PathBuf>,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// Where the runtime's JSON log goes; a file per call in the temp dir
    /// when `None`.
    pub log: Option<PathBuf>,
}

impl Runtime {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Runtime {
            binary: binary.into(),
            root: None,
            systemd_cgroup: false,
            log: None,
        }
    }

    fn name(&self) -> String {
        self.binary.display().to_string()
    }

    /// Global flags, before the verb.
    pub fn global_args(&self, log: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(root) = &self.root {
            a.push("--root".into());
            a.push(root.into());
        }
        if self.systemd_cgroup {
            a.push("--systemd-cgroup".into());
        }
        a.push("--log".into());
        a.push(log.into());
        a.push("--log-format".into());
        a.push("json".into());
        a
    }

    pub fn create(
        &self,
        l: &dyn Launcher,
        id: &str,
        bundle: &Path,
        opts: CreateOpts,
    ) -> Result<(), RuntimeError> {
        let args = create_args(id, bundle, &opts);
        self.run(l, "create", id, args, opts.io, None).map(drop)
    }

    pub fn start(&self, l: &dyn Launcher, id: &str) -> Result<(), RuntimeError> {
        self.simple(l, "start", id, &[])
    }

    /// `kill [--all] ID SIGNAL`.
    pub fn kill(
        &self,
        l: &dyn Launcher,
        id: &str,
        sig: i32,
        all: bool,
    ) -> Result<(), RuntimeError> {
        let sig = sig.to_string();
        if all {
            self.simple(l, "kill", id, &["--all", id, &sig])
        } else {
            self.simple(l, "kill", id, &[id, &sig])
        }
    }

    pub fn delete(&self, l: &dyn Launcher, id: &str, force: bool) -> Result<(), RuntimeError> {
        if force {
            self.simple(l, "delete", id, &["--force", id])
        } else {
            self.simple(l, "delete", id, &[id])
        }
    }

    pub fn pause(&self, l: &dyn Launcher, id: &str) -> Result<(), RuntimeError> {
        self.simple(l, "pause", id, &[id])
    }

    pub fn resume(&self, l: &dyn Launcher, id: &str) -> Result<(), RuntimeError> {
        self.simple(l, "resume", id, &[id])
    }

    pub fn state(&self, l: &dyn Launcher, id: &str) -> Result<State, RuntimeError> {
        let out = self.run(
            l,
            "state",
            id,
            vec!["state".into(), id.into()],
            ProcessIo::default(),
            None,
        )?;
        serde_json::from_slice(&out).map_err(|e| self.bad_output("state", id, e))
    }

    /// `ps --format json ID`: the pids in the container's cgroup.
    pub fn ps(&self, l: &dyn Launcher, id: &str) -> Result<Vec<i32>, RuntimeError> {
        let args = vec!["ps".into(), "--format".into(), "json".into(), id.into()];
        let out = self.run(l, "ps", id, args, ProcessIo::default(), None)?;
        serde_json::from_slice(&out).map_err(|e| self.bad_output("ps", id, e))
    }

    /// `events --stats ID`: one stats event, runc's JSON shape.
    pub fn stats(&self, l: &dyn Launcher, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let args = vec!["events".into(), "--stats".into(), id.into()];
        let out = self.run(l, "events", id, args, ProcessIo::default(), None)?;
        serde_json::from_slice(&out).map_err(|e| self.bad_output("events", id, e))
    }

    /// `update --resources - ID` with a runtime-spec LinuxResources JSON.
    pub fn update(&self, l: &dyn Launcher, id: &str, resources: &[u8]) -> Result<(), RuntimeError> {
        let args = vec!["update".into(), "--resources".into(), "-".into(), id.into()];
        self.run(l, "update", id, args, ProcessIo::default(), Some(resources))
            .map(drop)
    }

    pub fn exec(&self, l: &dyn Launcher, id: &str, opts: ExecOpts) -> Result<(), RuntimeError> {
        let args = exec_args(id, &opts);
        self.run(l, "exec", id, args, opts.io, None).map(drop)
    }

    fn simple(
        &self,
        l: &dyn Launcher,
        op: &'static str,
        id: &str,
        rest: &[&str],
    ) -> Result<(), RuntimeError> {
        let mut args: Vec<OsString> = vec![op.into()];
        args.extend(rest.iter().map(OsString::from));
        if rest.is_empty() {
            args.push(id.into());
        }
        self.run(l, op, id, args, ProcessIo::default(), None)
            .map(drop)
    }

    fn bad_output(&self, op: &'static str, id: &str, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Output {
            runtime: self.name(),
            op,
            id: id.to_string(),
            detail: e.to_string(),
        }
    }

    /// Runs one verb; returns its stdout. With `io` given, the runtime's
    /// stdio are the process's, so only the log file can tell the error.
    fn run(
        &self,
        l: &dyn Launcher,
        op: &'static str,
        id: &str,
        verb: Vec<OsString>,
        io: ProcessIo,
        input: Option<&[u8]>,
    ) -> Result<Vec<u8>, RuntimeError> {
        let spawn_err = |source| RuntimeError::Spawn {
            runtime: self.name(),
            op,
            source,
        };
        let (log, temp) = match &self.log {
            Some(p) => (p.clone(), false),
            None => (temp_log(op).map_err(spawn_err)?, true),
        };
        let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&self.binary);
        cmd.args(self.global_args(&log)).args(&verb);
        let captured_stderr = io.stderr.is_none();
        cmd.stdin(match (io.stdin, input) {
            (Some(fd), _) => Stdio::from(fd),
            (None, Some(_)) => Stdio::piped(),
            (None, None) => Stdio::null(),
        });
        cmd.stdout(io.stdout.map_or(Stdio::piped(), Stdio::from));
        cmd.stderr(io.stderr.map_or(Stdio::piped(), Stdio::from));
        let out = match input {
            Some(bytes) => run_with_input(l, &mut cmd, bytes),
            None => l.output(&mut cmd),
        };
        let logged = read_from(&log, log_start);
        if temp {
            let _ = fs::remove_file(&log);
        }
        let out = out.map_err(spawn_err)?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let stderr = if captured_stderr {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            String::new()
        };
        let message = last_error(&logged)
            .or_else(|| {
                stderr
                    .lines()
                    .last()
                    .map(str::to_string)
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| format!("exited with {}", out.status));
        Err(RuntimeError::Failed {
            runtime: self.name(),
            op,
            id: id.to_string(),
            message,
        })
    }
}

fn run_with_input(l: &dyn Launcher, cmd: &mut Command, bytes: &[u8]) -> io::Result<Output> {
    // The launcher owns spawn and wait; a stdin pipe is fed through a file
    // instead, so that every launcher stays a plain `output()`.
    let (mut f, path) = tempfile_in_tmp("input")?;
    f.write_all(bytes)?;
    let input = fs::File::open(&path);
    let _ = fs::remove_file(&path);
    cmd.stdin(Stdio::from(input?));
    l.output(cmd)
}

fn tempfile_in_tmp(what: &str) -> io::Result<(fs::File, PathBuf)> {
    let dir = std::env::temp_dir();
    for n in 0..100u32 {
        let p = dir.join(format!("berth-shim-{what}-{}-{n}", std::process::id()));
        match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temp name",
    ))
}

fn temp_log(op: &str) -> io::Result<PathBuf> {
    tempfile_in_tmp(&format!("{op}-log")).map(|(_, p)| p)
}

fn read_from(path: &Path, start: u64) -> String {
    match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(b.get(start as usize..).unwrap_or(&[])).into_owned(),
        Err(_) => String::new(),
    }
}

/// The message of the last `error` (or `fatal`) line of a logrus JSON log.
pub fn last_error(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let level = v.get("level")?.as_str()?;
        if level == "error" || level == "fatal" {
            Some(v.get("msg")?.as_str()?.to_string())
        } else {
            None
        }
    })
}

/// `create --bundle B [--pid-file F] [--console-socket S] ... ID`.
pub fn create_args(id: &str, bundle: &Path, o: &CreateOpts) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["create".into(), "--bundle".into(), bundle.into()];
    if let Some(p) = &o.pid_file {
        a.push("--pid-file".into());
        a.push(p.into());
    }
    if let Some(s) = &o.console_socket {
        a.push("--console-socket".into());
        a.push(s.into());
    }
    if o.no_pivot {
        a.push("--no-pivot".into());
    }
    if o.no_new_keyring {
        a.push("--no-new-keyring".into());
    }
    a.push(id.into());
    a
}

/// `exec --detach --process P [--pid-file F] [--tty --console-socket S] ID`.
pub fn exec_args(id: &str, o: &ExecOpts) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "exec".into(),
        "--detach".into(),
        "--process".into(),
        (&o.process).into(),
    ];
    if let Some(p) = &o.pid_file {
        a.push("--pid-file".into());
        a.push(p.into());
    }
    if let Some(s) = &o.console_socket {
        a.push("--tty".into());
        a.push("--console-socket".into());
        a.push(s.into());
    }
    a.push(id.into());
    a
}

/// Reads a pid file the runtime wrote.
pub fn read_pid_file(path: &Path) -> io::Result<i32> {
    let s = fs::read_to_string(path)?;
    s.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a pid: {s:?}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::process::ExitStatusExt;

    /// Records argv and answers with a canned status, stdout and log text.
    struct Fake {
        argv: RefCell<Vec<Vec<String>>>,
        code: i32,
        stdout: &'static str,
        log_line: &'static str,
    }

    impl Launcher for Fake {
        fn output(&self, cmd: &mut Command) -> io::Result<Output> {
            let args: Vec<String> = cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let log = args
                .iter()
                .position(|a| a == "--log")
                .map(|i| args[i + 1].clone())
                .unwrap();
            fs::write(&log, self.log_line)?;
            self.argv.borrow_mut().push(args);
            Ok(Output {
                status: std::process::ExitStatus::from_raw(self.code << 8),
                stdout: self.stdout.as_bytes().to_vec(),
                stderr: Vec::new(),
            })
        }
    }

    fn fake(code: i32, stdout: &'static str, log_line: &'static str) -> Fake {
        Fake {
            argv: RefCell::new(Vec::new()),
            code,
            stdout,
            log_line,
        }
    }

    #[test]
    fn create_args_follow_runcs_order() {
        let o = CreateOpts {
            pid_file: Some("/r/pid".into()),
            console_socket: Some("/r/c.sock".into()),
            no_pivot: true,
            ..Default::default()
        };
        let a: Vec<_> = create_args("c1", Path::new("/b"), &o)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            a,
            [
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/r/pid",
                "--console-socket",
                "/r/c.sock",
                "--no-pivot",
                "c1"
            ]
        );
    }

    #[test]
    fn exec_is_always_detached_and_tty_goes_with_the_console_socket() {
        let o = ExecOpts {
            process: "/p.json".into(),
            console_socket: Some("/s".into()),
            ..Default::default()
        };
        let a: Vec<_> = exec_args("c1", &o)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            a,
            [
                "exec",
                "--detach",
                "--process",
                "/p.json",
                "--tty",
                "--console-socket",
                "/s",
                "c1"
            ]
        );
    }

    #[test]
    fn global_flags_come_first_and_carry_the_json_log() {
        let mut r = Runtime::new("/usr/bin/runc");
        r.root = Some("/run/x".into());
        let f = fake(0, "", "");
        r.kill(&f, "c1", 15, true).unwrap();
        let argv = &f.argv.borrow()[0];
        assert_eq!(&argv[..2], ["--root", "/run/x"]);
        assert_eq!(argv[2], "--log");
        assert_eq!(
            &argv[4..],
            ["--log-format", "json", "kill", "--all", "c1", "15"]
        );
    }

    #[test]
    fn a_failure_reports_the_last_error_line_of_the_log() {
        let r = Runtime::new("berth");
        let f = fake(
            1,
            "",
            "{\"level\":\"info\",\"msg\":\"x\"}\n{\"level\":\"error\",\"msg\":\"container not running\"}\n",
        );
        let e = r.pause(&f, "c1").unwrap_err().to_string();
        assert_eq!(e, "berth pause c1: container not running");
    }

    #[test]
    fn state_and_ps_parse_the_runtimes_json() {
        let r = Runtime::new("berth");
        let f = fake(
            0,
            r#"{"ociVersion":"1.0.2","id":"c1","pid":42,"status":"running","bundle":"/b","created":"x"}"#,
            "",
        );
        assert_eq!(r.state(&f, "c1").unwrap().pid, 42);
        let f = fake(0, "[1,2,3]", "");
        assert_eq!(r.ps(&f, "c1").unwrap(), vec![1, 2, 3]);
        let f = fake(0, "nope", "");
        assert!(r
            .ps(&f, "c1")
            .unwrap_err()
            .to_string()
            .contains("unreadable output"));
    }

    #[test]
    fn last_error_skips_non_json_and_lower_levels() {
        assert_eq!(
            last_error("garbage\n{\"level\":\"warning\",\"msg\":\"w\"}"),
            None
        );
        assert_eq!(
            last_error("{\"level\":\"error\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"b\"}")
                .as_deref(),
            Some("b")
        );
    }
}
