//! The runtime under test, driven through its runc-compatible CLI. Every verb
//! runs with a deadline; `create` hands the container's stdout/stderr pipes to
//! reader threads so the output can be collected until EOF after `start`.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;

/// Deadline for one CLI verb; generous because hooks run inside create/start.
const VERB_TIMEOUT: Duration = Duration::from_secs(20);

/// Env var set on every runtime invocation; hooks must not see it, since a
/// hook's environment is exactly its `env` (config.md, POSIX-platform hooks).
pub const LEAK_MARKER: &str = "BERTH_CONFORMANCE_LEAK";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("spawning {bin} {verb}: {source}")]
    Spawn {
        bin: String,
        verb: String,
        source: std::io::Error,
    },
    #[error("opening {path} to pass to create: {source}")]
    PassFd {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{verb} timed out after {secs}s")]
    Timeout { verb: String, secs: u64 },
    #[error("{verb} exited with {status}: {detail}")]
    Failed {
        verb: String,
        status: ExitStatus,
        detail: String,
    },
    #[error("{verb} printed unparsable output {output:?}: {source}")]
    BadOutput {
        verb: String,
        output: String,
        source: serde_json::Error,
    },
}

/// Output of a finished verb.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Files opened and handed to `create` as fds 3.., with
    /// `--preserve-fds N`: the container must get them.
    pub preserve: Vec<PathBuf>,
    /// Files handed to `create` as the fds right after the preserved ones,
    /// inheritable but not declared: the container must not get them.
    pub leak: Vec<PathBuf>,
}

/// A created container's stdio, still being read.
pub struct ContainerIo {
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
}

impl ContainerIo {
    /// Waits until the container closed stdout (it exited) or the deadline.
    pub fn collect(&self, timeout: Duration) -> Option<(String, String)> {
        let out = self.stdout.recv_timeout(timeout).ok()?;
        let err = self
            .stderr
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default();
        Some((
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        ))
    }
}

pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
}

impl Runtime {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        cmd.env(LEAK_MARKER, "1").stdin(Stdio::null());
        cmd
    }

    /// Runs a verb to completion; a non-zero exit is returned, not an error.
    pub fn raw(&self, args: &[&str]) -> Result<Output, RuntimeError> {
        let mut cmd = self.command();
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let verb = args.first().copied().unwrap_or("").to_string();
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            bin: self.bin.display().to_string(),
            verb: verb.clone(),
            source,
        })?;
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        let status = wait_deadline(&mut child, &verb)?;
        let text = |rx: Receiver<Vec<u8>>| {
            String::from_utf8_lossy(&rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default())
                .into_owned()
        };
        Ok(Output {
            status,
            stdout: text(stdout),
            stderr: text(stderr),
        })
    }

    /// Runs a verb that must succeed.
    pub fn ok(&self, args: &[&str]) -> Result<Output, RuntimeError> {
        let out = self.raw(args)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failed(args, &out))
        }
    }

    fn failed(&self, args: &[&str], out: &Output) -> RuntimeError {
        let mut detail = out.stderr.trim().to_string();
        if let Some(msg) = self.last_log_error() {
            detail = format!("{detail} [log: {msg}]");
        }
        RuntimeError::Failed {
            verb: args.join(" "),
            status: out.status,
            detail,
        }
    }

    /// The last error-level message in the runtime's JSON log, as containerd
    /// would report it.
    pub fn last_log_error(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| {
                matches!(v["level"].as_str(), Some("error" | "fatal"))
                    .then(|| v["msg"].as_str().unwrap_or_default().to_string())
            })
    }

    /// `create`, with the container's stdio on pipes kept for [`ContainerIo`].
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        opts: &CreateOpts,
    ) -> Result<ContainerIo, RuntimeError> {
        let mut cmd = self.command();
        cmd.arg("create").arg("--bundle").arg(bundle);
        if let Some(p) = &opts.pid_file {
            cmd.arg("--pid-file").arg(p);
        }
        if let Some(s) = &opts.console_socket {
            cmd.arg("--console-socket").arg(s);
        }
        if !opts.preserve.is_empty() {
            cmd.arg("--preserve-fds")
                .arg(opts.preserve.len().to_string());
        }
        if !opts.preserve.is_empty() || !opts.leak.is_empty() {
            let fds = opts
                .preserve
                .iter()
                .chain(&opts.leak)
                .map(|p| {
                    std::fs::File::open(p).map(OwnedFd::from).map_err(|source| {
                        RuntimeError::PassFd {
                            path: p.clone(),
                            source,
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            crate::sys::place_fds(&mut cmd, fds);
        }
        cmd.arg(id).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            bin: self.bin.display().to_string(),
            verb: "create".into(),
            source,
        })?;
        let io = ContainerIo {
            stdout: reader(child.stdout.take()),
            stderr: reader(child.stderr.take()),
        };
        let status = wait_deadline(&mut child, "create")?;
        if status.success() {
            return Ok(io);
        }
        // The pipes are closed once create and its children are gone, so the
        // runtime's own error message is on stderr.
        let stderr = io
            .collect(Duration::from_secs(2))
            .map(|(_, e)| e)
            .unwrap_or_default();
        Err(self.failed(
            &["create", id],
            &Output {
                status,
                stdout: String::new(),
                stderr,
            },
        ))
    }

    pub fn start(&self, id: &str) -> Result<Output, RuntimeError> {
        self.ok(&["start", id])
    }

    pub fn state(&self, id: &str) -> Result<Value, RuntimeError> {
        let out = self.ok(&["state", id])?;
        serde_json::from_str(&out.stdout).map_err(|source| RuntimeError::BadOutput {
            verb: "state".into(),
            output: out.stdout,
            source,
        })
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<Output, RuntimeError> {
        self.ok(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<Output, RuntimeError> {
        if force {
            self.ok(&["delete", "--force", id])
        } else {
            self.ok(&["delete", id])
        }
    }

    /// Container ids from `list --format json` (runc prints `null` for none).
    pub fn list(&self) -> Result<Vec<String>, RuntimeError> {
        let out = self.ok(&["list", "--format", "json"])?;
        let v: Value =
            serde_json::from_str(out.stdout.trim()).map_err(|source| RuntimeError::BadOutput {
                verb: "list".into(),
                output: out.stdout.clone(),
                source,
            })?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `(name, version)` from the first line of `--version` ("runc version 1.1.5").
    pub fn identify(&self) -> (String, String) {
        let out = Command::new(&self.bin)
            .arg("--version")
            .stdin(Stdio::null())
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let first: Vec<&str> = text
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        match first[..] {
            [name, "version", version, ..] => (name.to_string(), version.to_string()),
            _ => (
                self.bin
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                String::new(),
            ),
        }
    }
}

/// Reads a pipe to EOF on its own thread and sends the bytes once.
fn reader(pipe: Option<impl Read + Send + 'static>) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

fn wait_deadline(child: &mut Child, verb: &str) -> Result<ExitStatus, RuntimeError> {
    let deadline = Instant::now() + VERB_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::Timeout {
                verb: verb.to_string(),
                secs: VERB_TIMEOUT.as_secs(),
            });
        }
        thread::sleep(Duration::from_millis(5));
    }
}
