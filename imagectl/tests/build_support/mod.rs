//! Helpers for tests/build.rs: temp dirs that unmount what is under them,
//! bounded tool runs, the berth binary, build contexts made from the
//! repository's examples (plus the host's static busybox), and a tree
//! snapshot for comparing two rootfs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::Ordering;

pub use crate::common::*;

/// A context dir made from examples/NAME plus the host's /bin/busybox.
pub fn example_context(t: &TempDir, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let dst = t.join(&format!("ctx-{name}"));
    fs::create_dir_all(&dst).unwrap();
    for e in fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    assert!(
        Path::new("/bin/busybox").exists(),
        "/bin/busybox missing: apt-get install busybox-static"
    );
    fs::copy("/bin/busybox", dst.join("busybox")).unwrap();
    dst
}

/// `imagectl build` with berth as the runtime.
pub fn build(root: &Path, ctx: &Path, extra: &[&str]) -> Output {
    let berth = berth();
    let mut a = vec!["build", "--runtime", berth.to_str().unwrap()];
    a.extend_from_slice(extra);
    a.push(ctx.to_str().unwrap());
    imagectl(root, &a)
}

/// Unpacks NAME and runs it with berth; returns stdout.
pub fn run_image(t: &TempDir, root: &Path, name: &str) -> String {
    let dir = t.join(&format!("bundle-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
    let o = imagectl(root, &["unpack", name, dir.to_str().unwrap()]);
    assert!(o.status.success(), "unpack: {}", text(&o.stderr));
    let id = format!(
        "build-test-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let o = run(
        60,
        berth().to_str().unwrap(),
        &["run", "--bundle", dir.to_str().unwrap(), &id],
    );
    let _ = imagectl(root, &["unpack", "--remove", dir.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "berth run: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// The image config (`config` object) of NAME, via `imagectl inspect`.
pub fn config_of(root: &Path, name: &str) -> serde_json::Value {
    let o = imagectl(root, &["inspect", name]);
    assert!(o.status.success(), "inspect: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    find_config(&v).unwrap_or_else(|| panic!("no config in inspect output: {v}"))
}

fn find_config(v: &serde_json::Value) -> Option<serde_json::Value> {
    if let Some(c) = v
        .get("Config")
        .or_else(|| v.get("config"))
        .filter(|c| c.get("Env").is_some() || c.get("Cmd").is_some())
    {
        return Some(c.clone());
    }
    match v {
        serde_json::Value::Object(m) => m.values().find_map(find_config),
        serde_json::Value::Array(a) => a.iter().find_map(find_config),
        _ => None,
    }
}

/// path -> (kind, mode, uid, gid, size, link target) for a tree.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, &mut out);
    out
}

fn walk(root: &Path, out: &mut BTreeMap<String, String>) {
    walk_tree(root, &mut |r, p, m| {
        let ft = m.file_type();
        let desc = if ft.is_symlink() {
            format!("link {}", fs::read_link(p).unwrap().display())
        } else if ft.is_dir() {
            format!("dir {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid())
        } else {
            format!(
                "file {:o} {}:{} {}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                m.size()
            )
        };
        out.insert(r.to_string_lossy().into_owned(), desc);
    });
}
