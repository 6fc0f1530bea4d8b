//! The start flags, validated into a [`Plan`] before anything is created:
//! every path absolute, the bundle's config.json readable JSON that agrees
//! with `--terminal`, the runtime binary found. Errors name the flag or
//! the file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::cli::StartArgs;
use super::logs::LogConfig;
use crate::runtime::Runtime;

/// sun_path holds 108 bytes, the terminating NUL included.
const SUN_PATH_MAX: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--{flag} {value}: {source}")]
    Path {
        flag: &'static str,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("--{flag} {value}: {why}")]
    Invalid {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error("{path}: {why}")]
    Config { path: String, why: String },
}

/// Everything the monitor needs, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: Runtime,
    pub state_dir: PathBuf,
    pub log: LogConfig,
    pub terminal: bool,
    pub stdin: bool,
    pub leave_stdin_open: bool,
    pub exit_file: PathBuf,
    pub exit_json: PathBuf,
    pub delete_after_exit: bool,
    pub container_pid_file: PathBuf,
    pub shim_pid_file: Option<PathBuf>,
}

impl Plan {
    pub fn attach_socket(&self) -> PathBuf {
        self.state_dir.join("attach")
    }
    pub fn ctl_socket(&self) -> PathBuf {
        self.state_dir.join("ctl")
    }
    pub fn console_socket(&self) -> PathBuf {
        self.state_dir.join("console.sock")
    }
    pub fn shim_pid(&self) -> PathBuf {
        self.state_dir.join("shim.pid")
    }
    pub fn shim_log(&self) -> PathBuf {
        self.state_dir.join("shim.log")
    }
}

fn absolute(flag: &'static str, p: &Path) -> Result<PathBuf, PlanError> {
    std::path::absolute(p).map_err(|source| PlanError::Path {
        flag,
        value: p.display().to_string(),
        source,
    })
}

/// Validates the flags; touches nothing.
pub fn plan(a: StartArgs) -> Result<Plan, PlanError> {
    let id = a.id.unwrap_or_default();
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        return Err(PlanError::Invalid {
            flag: "id",
            value: format!("{id:?}"),
            why: "must be a non-empty name without '/'".into(),
        });
    }
    let bundle_arg = a.bundle.unwrap_or_default();
    let bundle = fs::canonicalize(&bundle_arg).map_err(|source| PlanError::Path {
        flag: "bundle",
        value: bundle_arg.display().to_string(),
        source,
    })?;
    check_config(&bundle.join("config.json"), a.terminal)?;
    let state_dir = absolute("state-dir", &a.state_dir.unwrap_or_default())?;
    let longest = state_dir.join("console.sock");
    if longest.as_os_str().len() > SUN_PATH_MAX {
        return Err(PlanError::Invalid {
            flag: "state-dir",
            value: state_dir.display().to_string(),
            why: format!("too long for a unix socket path ({longest:?} > {SUN_PATH_MAX} bytes)"),
        });
    }
    if state_dir.join("shim.pid").exists() {
        return Err(PlanError::Invalid {
            flag: "state-dir",
            value: state_dir.display().to_string(),
            why: "already holds a monitor (shim.pid exists)".into(),
        });
    }
    let mut runtime = Runtime::new(find_runtime(&a.runtime)?);
    if let Some(root) = &a.runtime_root {
        runtime.root = Some(absolute("runtime-root", root)?);
    }
    let opt_abs = |flag, p: Option<PathBuf>, default: &str| match p {
        Some(p) => absolute(flag, &p),
        None => Ok(state_dir.join(default)),
    };
    let log_path = opt_abs("log-path", a.log_path, "container.log")?;
    let exit_file = opt_abs("exit-file", a.exit_file, "exit")?;
    let container_pid_file = opt_abs("container-pid-file", a.container_pid_file, "container.pid")?;
    let shim_pid_file = a
        .shim_pid_file
        .map(|p| absolute("shim-pid-file", &p))
        .transpose()?;
    Ok(Plan {
        id,
        bundle,
        runtime,
        exit_json: state_dir.join("exit.json"),
        state_dir,
        log: LogConfig {
            path: log_path,
            size_max: a.log_size_max,
            max_files: a.log_max_files,
        },
        terminal: a.terminal,
        stdin: a.stdin,
        leave_stdin_open: a.leave_stdin_open,
        exit_file,
        delete_after_exit: a.delete_after_exit,
        container_pid_file,
        shim_pid_file,
    })
}

/// config.json must parse, and `process.terminal` must match `--terminal`
/// (the runtime would otherwise fail, or wait for a console socket).
fn check_config(path: &Path, terminal: bool) -> Result<(), PlanError> {
    let cfg_err = |why: String| PlanError::Config {
        path: path.display().to_string(),
        why,
    };
    let text = fs::read(path).map_err(|e| cfg_err(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| cfg_err(e.to_string()))?;
    let wants = v
        .pointer("/process/terminal")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if wants != terminal {
        return Err(cfg_err(format!(
            "process.terminal is {wants} but --terminal was {}",
            if terminal { "given" } else { "not given" }
        )));
    }
    Ok(())
}

/// A path as given, or a bare name looked up on PATH.
fn find_runtime(rt: &Path) -> Result<PathBuf, PlanError> {
    let not_found = |why: &str| PlanError::Invalid {
        flag: "runtime",
        value: rt.display().to_string(),
        why: why.into(),
    };
    if rt.components().count() > 1 || rt.is_absolute() {
        let p = absolute("runtime", rt)?;
        return if p.is_file() {
            Ok(p)
        } else {
            Err(not_found("no such file"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(rt))
        .find(|p| p.is_file())
        .ok_or_else(|| not_found("not found on PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> StartArgs {
        let mut v = vec!["berth-shim", "--id", "c1", "--state-dir", "/run/s/c1"];
        v.extend_from_slice(extra);
        super::super::cli::Cli::parse_from(v).start
    }

    #[test]
    fn a_missing_bundle_is_named_by_its_flag() {
        let e = plan(args(&["--bundle", "/nonexistent/b"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--bundle /nonexistent/b: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_broken_config_and_a_terminal_mismatch_name_the_file() {
        let dir = std::env::temp_dir().join(format!("berth-shim-plan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let b = dir.to_str().unwrap();
        fs::write(dir.join("config.json"), "{ nope").unwrap();
        let e = plan(args(&["--bundle", b])).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{b}/config.json: key must be a string")),
            "{e}"
        );
        fs::write(dir.join("config.json"), r#"{"process":{"terminal":true}}"#).unwrap();
        let e = plan(args(&["--bundle", b])).unwrap_err().to_string();
        assert!(
            e.ends_with("process.terminal is true but --terminal was not given"),
            "{e}"
        );
        let p = plan(args(&["--bundle", b, "--terminal", "--runtime", "/bin/sh"])).unwrap();
        assert_eq!(p.exit_file, PathBuf::from("/run/s/c1/exit"));
        assert_eq!(p.log.path, PathBuf::from("/run/s/c1/container.log"));
        let e = plan(args(&[
            "--bundle",
            b,
            "--terminal",
            "--runtime",
            "no-such-rt",
        ]))
        .unwrap_err()
        .to_string();
        assert_eq!(e, "--runtime no-such-rt: not found on PATH");
        fs::remove_dir_all(&dir).unwrap();
    }
}
