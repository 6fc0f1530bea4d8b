//! The basics every imagectl integration test binary shares: temp dirs
//! that unmount what is under them, tool checks that say what to install,
//! external runs bounded by `timeout`, the imagectl and berth binaries, and
//! sha256 hex. Each binary uses a different subset, hence the allow.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

pub const IMAGECTL: &str = env!("CARGO_BIN_EXE_imagectl");
pub const BUSYBOX: &str = "/bin/busybox";

/// Makes temp dir names (and other per-run names) unique within a binary.
pub static SEQ: AtomicU64 = AtomicU64::new(0);

/// A temp dir; on drop, everything mounted under it is unmounted (deepest
/// first) and it is removed. Named after the test binary so leftovers say
/// which suite made them.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "imagectl-{}-{tag}-{}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    pub fn s(&self, p: &str) -> String {
        self.join(p).to_str().unwrap().to_string()
    }
}

/// Mount points at or under `dir`, deepest (last mounted) first; a sibling
/// that merely shares the prefix (`dir-2`) is not one of them.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(PathBuf::from)
        .collect();
    v.reverse();
    v
}

impl Drop for TempDir {
    fn drop(&mut self) {
        for m in mounts_under(&self.0) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Fails the test, naming the package, when a tool is missing.
pub fn need(tool: &str, package: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is not installed: install {package} (apt-get install {package})"
    );
}

/// Runs `prog args` under `timeout` (every external process is bounded),
/// stdin closed so nothing waits on the terminal.
pub fn run(secs: u32, prog: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("-k5")
        .arg(secs.to_string())
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"))
}

/// `run`, asserting success.
pub fn ok(secs: u32, prog: &str, args: &[&str]) -> Output {
    let out = run(secs, prog, args);
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// `imagectl --root ROOT args`, bounded.
pub fn imagectl(root: &Path, args: &[&str]) -> Output {
    let mut a = vec!["--root", root.to_str().unwrap()];
    a.extend_from_slice(args);
    run(300, IMAGECTL, &a)
}

pub fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The berth binary: this worktree's target/debug/berth (next to the test
/// binary's deps/ dir), else $BERTH.
pub fn berth() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let b = exe.parent().unwrap().parent().unwrap().join("berth");
    if b.exists() {
        return b;
    }
    let env = std::env::var_os("BERTH").map(PathBuf::from);
    match env {
        Some(e) if e.exists() => e,
        _ => panic!(
            "{} missing: run `cargo build -p berth` first (or set BERTH)",
            b.display()
        ),
    }
}

/// Calls `visit(relative path, full path, lstat)` for every entry under
/// `root`, each directory's names in sorted order, parents before their
/// contents; symlinks are not followed.
pub fn walk_tree(root: &Path, visit: &mut dyn FnMut(&Path, &Path, &fs::Metadata)) {
    walk_rel(root, Path::new(""), visit);
}

fn walk_rel(root: &Path, rel: &Path, visit: &mut dyn FnMut(&Path, &Path, &fs::Metadata)) {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in names {
        let r = rel.join(&n);
        let p = root.join(&r);
        let m = fs::symlink_metadata(&p).unwrap();
        visit(&r, &p, &m);
        if m.is_dir() {
            walk_rel(root, &r, visit);
        }
    }
}
