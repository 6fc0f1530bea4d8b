//! Shared pieces of the standalone monitor's integration tests: busybox
//! bundles, the runtime under test (`RUNTIME`, else berth next to the test
//! binary), a temp dir per test and bounded waits.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");
/// Generous: two cores are shared by parallel tests and other builds.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The runtime under test: `RUNTIME`, else `target/debug/berth`.
pub fn runtime() -> PathBuf {
    if let Some(r) = std::env::var_os("RUNTIME").filter(|r| !r.is_empty()) {
        return PathBuf::from(r);
    }
    let exe = std::env::current_exe().unwrap();
    let berth = exe.parent().unwrap().parent().unwrap().join("berth");
    assert!(
        berth.exists(),
        "{} missing: run `cargo build -p berth` first (or set RUNTIME)",
        berth.display()
    );
    berth
}

/// One test's container: its dir holds the bundle, the runtime root and
/// the monitor's state dir. Dropping it deletes the container, ends the
/// monitor if it still runs, and removes the dir.
pub struct Env {
    pub dir: PathBuf,
    pub id: String,
    pub runtime: PathBuf,
}

impl Env {
    /// A bundle whose process runs `sh -c script`; `edit` may change the
    /// config further.
    pub fn new(name: &str, script: &str, edit: impl FnOnce(&mut Value)) -> Env {
        let id = format!("shimt-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&id);
        let _ = fs::remove_dir_all(&dir);
        let bin = dir.join("bundle/rootfs/bin");
        fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp"] {
            fs::create_dir_all(dir.join("bundle/rootfs").join(d)).unwrap();
        }
        fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                let _ = symlink("busybox", bin.join(applet));
            }
        }
        let env = Env {
            dir,
            id,
            runtime: runtime(),
        };
        let spec = Command::new(&env.runtime)
            .arg("spec")
            .current_dir(env.bundle())
            .output()
            .unwrap();
        assert!(spec.status.success(), "spec: {spec:?}");
        let path = env.bundle().join("config.json");
        let mut cfg: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        cfg["process"]["terminal"] = json!(false);
        cfg["process"]["args"] = json!(["sh", "-c", script]);
        cfg["root"]["readonly"] = json!(false);
        edit(&mut cfg);
        fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        env
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    pub fn log(&self) -> PathBuf {
        self.state().join("container.log")
    }

    /// The monitor's command line for this container, plus `extra`.
    pub fn shim_cmd(&self, extra: &[&str]) -> Command {
        self.shim_cmd_for(&self.bundle(), extra)
    }

    /// The same with another bundle dir.
    pub fn shim_cmd_for(&self, bundle: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(SHIM);
        c.arg("--id")
            .arg(&self.id)
            .arg("--bundle")
            .arg(bundle)
            .arg("--runtime")
            .arg(&self.runtime)
            .arg("--runtime-root")
            .arg(self.root())
            .arg("--state-dir")
            .arg(self.state())
            .args(extra);
        c
    }

    /// Starts the monitor and waits for the caller's answer; returns the
    /// container's pid.
    pub fn start(&self, extra: &[&str]) -> i32 {
        let out = run_bounded(self.shim_cmd(extra));
        assert!(out.status.success(), "berth-shim failed: {out:?}");
        let pid = String::from_utf8(out.stdout).unwrap();
        pid.trim()
            .parse()
            .unwrap_or_else(|_| panic!("pid: {pid:?}"))
    }

    /// `RUNTIME --root ROOT args...`.
    pub fn rt(&self, args: &[&str]) -> Output {
        let mut c = Command::new(&self.runtime);
        c.arg("--root").arg(self.root()).args(args);
        run_bounded(c)
    }

    /// The runtime's `status` of the container, `None` when it has none.
    pub fn status(&self) -> Option<String> {
        let out = self.rt(&["state", &self.id]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    pub fn kill(&self, sig: &str) {
        let out = self.rt(&["kill", &self.id, sig]);
        assert!(out.status.success(), "kill {sig}: {out:?}");
    }

    /// Waits for the exit file and returns (code, exit.json).
    pub fn wait_exit(&self) -> (String, Value) {
        let exit = self.state().join("exit");
        wait_for("the exit file", || exit.exists());
        let code = fs::read_to_string(&exit).unwrap();
        let json =
            serde_json::from_slice(&fs::read(self.state().join("exit.json")).unwrap()).unwrap();
        (code, json)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Waits until the log holds a record with this stream and content.
    pub fn wait_log(&self, stream: &str, content: &str) {
        wait_for(&format!("{stream} {content:?} in the log"), || {
            records(&self.log_text())
                .iter()
                .any(|r| r.stream == stream && r.content == content)
        });
    }

    pub fn ctl(&self, words: &[&str]) -> Output {
        let mut c = Command::new(SHIM);
        c.arg("ctl")
            .arg("--state-dir")
            .arg(self.state())
            .args(words);
        run_bounded(c)
    }

    /// An attach client with piped stdin and stdout.
    pub fn attach(&self, stdin: Stdio) -> Child {
        Command::new(SHIM)
            .arg("attach")
            .arg("--state-dir")
            .arg(self.state())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn shim_pid(&self) -> Option<i32> {
        fs::read_to_string(self.state().join("shim.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.rt(&["delete", "--force", &self.id]);
        if let Some(pid) = self.shim_pid() {
            // Our own monitor, by its pid; it exits once the init is gone.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command that must finish within [`TIMEOUT`].
pub fn run_bounded(mut c: Command) -> Output {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{c:?} did not finish in {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` until it holds, failing the test after [`TIMEOUT`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One parsed CRI record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time: String,
    pub stream: String,
    pub tag: String,
    pub content: String,
}

/// Parses a CRI log, asserting that every line is well formed.
pub fn records(text: &str) -> Vec<Record> {
    // Not `lines()`: it would eat the "\r" a pty leaves before "\n".
    text.split_terminator('\n')
        .map(|l| {
            let mut p = l.splitn(4, ' ');
            let r = Record {
                time: p.next().unwrap().to_string(),
                stream: p.next().unwrap_or_default().to_string(),
                tag: p.next().unwrap_or_default().to_string(),
                content: p.next().unwrap_or_default().to_string(),
            };
            let t = r.time.as_bytes();
            assert!(
                t.len() == 30 && t[4] == b'-' && t[10] == b'T' && t[19] == b'.' && t[29] == b'Z',
                "bad timestamp in {l:?}"
            );
            assert!(matches!(r.stream.as_str(), "stdout" | "stderr"), "{l:?}");
            assert!(matches!(r.tag.as_str(), "F" | "P"), "{l:?}");
            r
        })
        .collect()
}

/// A reader thread turning a child's stdout into lines on a channel.
pub fn lines_of(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line.trim_end().to_string()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Waits for a line equal to `want`; returns every line seen up to it.
pub fn expect_line(rx: &mpsc::Receiver<String>, want: &str) -> Vec<String> {
    expect_match(rx, want, |l| l == want)
}

/// Waits for a line `pred` accepts (`what` names it in the failure).
pub fn expect_match(
    rx: &mpsc::Receiver<String>,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = pred(&l);
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line {what:?}; saw {seen:?}"),
        }
    }
}

/// Waits for a child to exit within [`TIMEOUT`]; returns its stderr.
pub fn wait_child(mut c: Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (st, err);
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("child did not exit in {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
