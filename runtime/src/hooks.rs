//! OCI hooks: each runs with the container state JSON on stdin, its own args
//! and env (nothing inherited), and an optional timeout after which it is
//! killed. Output is captured in memory files (no pipe to deadlock on) and
//! shown when a hook fails.

use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::memfd::{memfd_create, MFdFlags};
use oci_spec::runtime::Hook;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook #{index} ({path}): {message}")]
    Failed {
        kind: &'static str,
        index: usize,
        path: String,
        message: String,
    },
}

/// The state a hook sees on stdin (runtime spec "State").
#[derive(Debug, Serialize)]
pub struct HookState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a std::path::Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a std::collections::HashMap<String, String>>,
}

/// Runs `hooks` of `kind` in order; the first failure stops the rest.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &HookState<'_>) -> Result<(), HookError> {
    if hooks.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(state).expect("state serializes");
    for (index, hook) in hooks.iter().enumerate() {
        run_one(hook, &json).map_err(|message| HookError::Failed {
            kind,
            index,
            path: hook.path().display().to_string(),
            message,
        })?;
    }
    Ok(())
}

/// Runs every hook of `kind` even when some fail, logging each failure: the
/// spec's rule for poststart and poststop.
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &HookState<'_>) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_all(kind, std::slice::from_ref(hook), state) {
            let HookError::Failed { message, path, .. } = e;
            tracing::warn!(
                container_id = state.id,
                "{kind} hook #{index} ({path}): {message}"
            );
        }
    }
}

fn capture_file(name: &str) -> Result<std::fs::File, String> {
    memfd_create(name, MFdFlags::MFD_CLOEXEC)
        .map(std::fs::File::from)
        .map_err(|e| format!("memfd: {e}"))
}

fn run_one(hook: &Hook, state: &[u8]) -> Result<(), String> {
    let args = hook.args().as_deref().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some(argv0) = args.first() {
        cmd.arg0(argv0);
    }
    cmd.args(args.iter().skip(1)).env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut out = capture_file("hook-stdout")?;
    let mut err = capture_file("hook-stderr")?;
    cmd.stdin(Stdio::piped())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(err.try_clone().map_err(|e| e.to_string())?);
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not fail the write.
        let _ = stdin.write_all(state);
    }
    let pidfd = crate::sys::clone::pidfd_open(nix::unistd::Pid::from_raw(child.id() as i32))
        .map_err(|e| e.to_string())?;
    let timeout = hook.timeout().map(|t| Duration::from_secs(t as u64));
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let limit = match timeout {
        Some(t) => PollTimeout::try_from(t.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX),
        None => PollTimeout::NONE,
    };
    let ready = loop {
        match poll(&mut fds, limit) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(|e| e.to_string())?,
        }
    };
    if ready == 0 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "timed out after {}s",
            timeout.unwrap_or_default().as_secs()
        ));
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        return Ok(());
    }
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        let _ = f.rewind();
        let _ = f.read_to_string(&mut s);
        s.trim().to_string()
    };
    let (stdout, stderr) = (read(&mut out), read(&mut err));
    let mut msg = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("killed by {status}"),
    };
    for (label, text) in [("stdout", stdout), ("stderr", stderr)] {
        if !text.is_empty() {
            msg.push_str(&format!(", {label}: {text}"));
        }
    }
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    fn state() -> HookState<'static> {
        HookState {
            oci_version: "1.2.0",
            id: "c1",
            status: "creating",
            pid: Some(7),
            bundle: std::path::Path::new("/b"),
            annotations: None,
        }
    }

    #[test]
    fn hook_gets_state_args_and_only_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$0 $1 $FOO ${{HOME:-nohome}}\" >> {0}","a1"],"env":["FOO=bar"]}}"#,
            out.display()
        ));
        run_all("prestart", &[h], &state()).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.starts_with(
                r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":7,"bundle":"/b"}"#
            ),
            "{text}"
        );
        assert!(
            text.ends_with("a1  bar nohome\n")
                || text.contains("a1 bar nohome")
                || text.contains("sh a1 bar nohome"),
            "{text}"
        );
    }

    #[test]
    fn failing_hook_reports_code_and_stderr() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo broken >&2; exit 3"]}"#);
        let e = run_all("createRuntime", &[h], &state())
            .unwrap_err()
            .to_string();
        assert!(e.contains("createRuntime hook #0"), "{e}");
        assert!(
            e.contains("exit status 3") && e.contains("stderr: broken"),
            "{e}"
        );
    }

    #[test]
    fn timeout_kills_hook() {
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}"#);
        let t = std::time::Instant::now();
        let e = run_all("poststart", &[h], &state())
            .unwrap_err()
            .to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
