//! The per-case context: the bundle, the config being built, the runtime, and
//! everything that must be undone afterwards. Dropping a [`Ctx`] force-deletes
//! every container it created and detaches every mount it made, so a failing
//! or panicking case leaves nothing behind.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bundle::{Bundle, BundleError};
use super::host::{self, HostError};
use super::runtime::{ContainerIo, CreateOpts, Runtime, RuntimeError};

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Fail(String),
    Skip(String),
}

pub type CaseResult = Result<(), Verdict>;

impl From<RuntimeError> for Verdict {
    fn from(e: RuntimeError) -> Self {
        Verdict::Fail(e.to_string())
    }
}

impl From<BundleError> for Verdict {
    fn from(e: BundleError) -> Self {
        Verdict::Fail(format!("bundle setup: {e}"))
    }
}

impl From<HostError> for Verdict {
    fn from(e: HostError) -> Self {
        Verdict::Fail(format!("host setup: {e}"))
    }
}

/// Fails with `msg` unless `cond` holds.
pub fn ensure(cond: bool, msg: impl Into<String>) -> CaseResult {
    if cond {
        Ok(())
    } else {
        Err(Verdict::Fail(msg.into()))
    }
}

/// How long a container may take to run the checker and exit.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Ctx<'a> {
    pub rt: &'a Runtime,
    pub bundle: Bundle,
    pub config: Value,
    /// The case's main container id.
    pub id: String,
    pub host_ns: BTreeMap<String, u64>,
    containers: Vec<String>,
    mounts: Vec<PathBuf>,
    loops: Vec<PathBuf>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        rt: &'a Runtime,
        bundle: Bundle,
        config: Value,
        id: String,
        host_ns: BTreeMap<String, u64>,
    ) -> Self {
        Ctx {
            rt,
            bundle,
            config,
            id,
            host_ns,
            containers: Vec::new(),
            mounts: Vec::new(),
            loops: Vec::new(),
        }
    }

    pub fn write_config(&self) -> CaseResult {
        Ok(self.bundle.write_config(&self.config)?)
    }

    /// Registers a mount to detach at cleanup (before the bundle is removed).
    pub fn track_mount(&mut self, path: PathBuf) {
        self.mounts.push(path);
    }

    /// Registers a loop device to detach at cleanup (after the containers).
    pub fn track_loop(&mut self, dev: PathBuf) {
        self.loops.push(dev);
    }

    /// Writes the config and creates container `id` from this bundle.
    pub fn create_as(&mut self, id: &str, opts: &CreateOpts) -> Result<ContainerIo, Verdict> {
        self.write_config()?;
        // Registered before the call: a create that fails halfway may still
        // leave state behind that only `delete --force` removes.
        self.containers.push(id.to_string());
        Ok(self.rt.create(id, &self.bundle.dir, opts)?)
    }

    pub fn create(&mut self) -> Result<ContainerIo, Verdict> {
        let id = self.id.clone();
        self.create_as(&id, &CreateOpts::default())
    }

    /// Deletes a container and stops tracking it.
    pub fn delete(&mut self, id: &str, force: bool) -> CaseResult {
        self.rt.delete(id, force)?;
        self.containers.retain(|c| c != id);
        Ok(())
    }

    pub fn status(&self, id: &str) -> Result<String, Verdict> {
        Ok(self.rt.state(id)?["status"]
            .as_str()
            .unwrap_or("<missing>")
            .to_string())
    }

    /// Polls `state` until the status is `want`; returns that state.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> Result<Value, Verdict> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.rt.state(id)?;
            if state["status"] == want {
                return Ok(state);
            }
            if Instant::now() > deadline {
                return Err(Verdict::Fail(format!(
                    "status stayed {} (wanted {want})",
                    state["status"]
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// create, start, wait for the checker to exit, delete; then judges the
    /// checker's output.
    pub fn run_checker(&mut self) -> CaseResult {
        self.run_checker_with(&CreateOpts::default())
    }

    /// [`Ctx::run_checker`] with extra `create` options.
    pub fn run_checker_with(&mut self, opts: &CreateOpts) -> CaseResult {
        let id = self.id.clone();
        let io = self.create_as(&id, opts)?;
        self.rt.start(&id)?;
        let (stdout, stderr) = io.collect(RUN_TIMEOUT).ok_or_else(|| {
            Verdict::Fail(format!(
                "container did not exit within {}s",
                RUN_TIMEOUT.as_secs()
            ))
        })?;
        self.wait_status(&id, "stopped", Duration::from_secs(5))?;
        self.delete(&id, false)?;
        judge_checker_output(&stdout, &stderr)
    }

    /// Like [`Ctx::run_checker`] for a `terminal: true` config: the output
    /// comes from the pty master the runtime sends to the console socket.
    pub fn run_checker_on_terminal(&mut self) -> CaseResult {
        let socket = self.bundle.dir.join("console.sock");
        let output = super::console::listen(&socket, RUN_TIMEOUT)
            .map_err(|e| Verdict::Fail(e.to_string()))?;
        let id = self.id.clone();
        self.create_as(
            &id,
            &CreateOpts {
                console_socket: Some(socket),
                ..Default::default()
            },
        )?;
        self.rt.start(&id)?;
        let stdout = output
            .recv_timeout(RUN_TIMEOUT + Duration::from_secs(1))
            .map_err(|_| Verdict::Fail("no terminal output".into()))?
            .map_err(|e| Verdict::Fail(e.to_string()))?;
        self.wait_status(&id, "stopped", Duration::from_secs(5))?;
        self.delete(&id, false)?;
        judge_checker_output(&stdout, "")
    }

    /// Path inside the rootfs on the host, as a string (for hook scripts).
    pub fn rootfs_path(&self, path: &str) -> String {
        self.bundle.in_rootfs(path).display().to_string()
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        for id in self.containers.iter().rev() {
            let _ = self.rt.delete(id, true);
        }
        for m in self.mounts.iter().rev() {
            host::detach(m);
        }
        for dev in &self.loops {
            host::detach_loop(dev);
        }
    }
}

/// Turns the checker's JSON lines into a verdict naming every failed check.
pub fn judge_checker_output(stdout: &str, stderr: &str) -> CaseResult {
    let mut failures = Vec::new();
    let mut done = false;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            failures.push(format!("unparsable checker line {line:?}"));
            continue;
        };
        if v["done"] == true {
            done = true;
        } else if v["ok"] != true {
            failures.push(format!(
                "{}: expected {}, got {}",
                v["name"].as_str().unwrap_or("?"),
                v["expected"],
                v["actual"]
            ));
        }
    }
    if !done {
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        failures.push(format!("checker did not finish (stderr: {tail:?})"));
    }
    ensure(failures.is_empty(), failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_output_passes_only_when_all_ok_and_done() {
        let ok = "{\"name\":\"a\",\"ok\":true,\"expected\":1,\"actual\":1}\n{\"done\":true}\n";
        assert_eq!(judge_checker_output(ok, ""), Ok(()));
        let bad = "{\"name\":\"a\",\"ok\":false,\"expected\":1,\"actual\":2}\n{\"done\":true}\n";
        assert_eq!(
            judge_checker_output(bad, ""),
            Err(Verdict::Fail("a: expected 1, got 2".into()))
        );
        let cut = "{\"name\":\"a\",\"ok\":true,\"expected\":1,\"actual\":1}\n";
        assert!(
            matches!(judge_checker_output(cut, "boom"), Err(Verdict::Fail(m)) if m.contains("boom"))
        );
        assert!(judge_checker_output("", "").is_err());
    }
}
