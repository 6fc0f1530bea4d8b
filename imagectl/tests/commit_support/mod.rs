//! Helpers for tests/commit.rs: bounded tool runs, temp dirs that
//! unmount what is under them, a two-layer busybox base image, bundle
//! edits, berth runs and layer listings.

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

pub use crate::common::*;

use imagectl::author::{self, ImageDraft};
use imagectl::platform::Platform;
use imagectl::store::Store;
use serde_json::Value;

const APPLETS: &[&str] = &["sh", "echo", "cat", "ls", "rm", "mkdir", "touch"];

/// `imagectl`, asserting success; its stdout.
pub fn imagectl_ok(root: &Path, args: &[&str]) -> String {
    let o = imagectl(root, args);
    assert!(o.status.success(), "imagectl {args:?}: {}", stderr(&o));
    stdout(&o)
}

pub fn need_tools() {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing: install busybox-static"
    );
    let ok = Command::new("sh")
        .args(["-c", "command -v tar"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "tar is not installed: apt-get install tar");
}

fn put(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}

/// A busybox rootfs: the applets, /etc/passwd and group, the mount
/// points berth needs (so running leaves them alone), and the files the
/// tests change: /etc/{keep,change,gone}, /opt/d/{x,y}.
pub fn busybox_rootfs(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    for a in APPLETS {
        symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
    for d in ["proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    put(dir, "etc/passwd", "root:x:0:0:root:/:/bin/sh\n");
    put(dir, "etc/group", "root:x:0:\n");
    put(dir, "etc/keep", "keep\n");
    put(dir, "etc/change", "old\n");
    put(dir, "etc/gone", "gone\n");
    put(dir, "opt/d/x", "x\n");
    put(dir, "opt/d/y", "y\n");
}

/// `tar -C dir -c .`
pub fn tar_of(dir: &Path, out: &Path) {
    let o = run(
        60,
        "tar",
        &[
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            out.to_str().unwrap(),
            ".",
        ],
    );
    assert!(o.status.success(), "tar: {}", stderr(&o));
}

/// Stores `busybox` (two layers: the busybox rootfs, then /etc/top and
/// /opt/d/z) under the name "base", through the author API.
pub fn base_image(t: &TempDir, store_root: &Path) {
    let store = Store::open(store_root).unwrap();
    let r1 = t.join("base-l1");
    busybox_rootfs(&r1);
    let r2 = t.join("base-l2");
    put(&r2, "etc/top", "top\n");
    put(&r2, "opt/d/z", "z\n");
    let mut draft = ImageDraft::from_base(None);
    for (i, r) in [r1, r2].iter().enumerate() {
        let tar = t.join(&format!("base-l{i}.tar"));
        tar_of(r, &tar);
        let l = author::write_layer(&store, fs::File::open(&tar).unwrap()).unwrap();
        draft.add_layer(
            &l,
            author::history(&format!("layer {i}"), None, None, false),
        );
    }
    author::apply_change(&mut draft.config, r#"CMD ["/bin/sh"]"#).unwrap();
    let desc = draft.write(&store).unwrap();
    store
        .set_ref("docker.io/library/base:latest", &desc)
        .unwrap();
}

/// Sets the bundle's process args.
pub fn set_args(bundle: &Path, args: &[&str]) {
    let p = bundle.join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    v["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
    fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// `berth run` of the bundle (then delete); its output.
pub fn berth_run(t: &TempDir, bundle: &Path, id: &str) -> Output {
    let berth = berth();
    let state = t.join("berth-state");
    let id = format!("imagectl-commit-{}-{id}", std::process::id());
    let o = run(
        60,
        berth.to_str().unwrap(),
        &[
            "--root",
            state.to_str().unwrap(),
            "run",
            "--bundle",
            bundle.to_str().unwrap(),
            &id,
        ],
    );
    let _ = run(
        30,
        berth.to_str().unwrap(),
        &["--root", state.to_str().unwrap(), "delete", "-f", &id],
    );
    o
}

/// The image's manifest and config as JSON.
pub fn image_json(store_root: &Path, name: &str) -> (Value, Value) {
    let store = Store::open(store_root).unwrap();
    let img = imagectl::image::open(&store, name, &Platform::host()).unwrap();
    (
        serde_json::to_value(&img.manifest).unwrap(),
        serde_json::from_slice(&img.config_raw).unwrap(),
    )
}

/// The entry names of the image's top layer (`/` after directories).
pub fn top_layer_names(store_root: &Path, name: &str) -> Vec<String> {
    let store = Store::open(store_root).unwrap();
    let img = imagectl::image::open(&store, name, &Platform::host()).unwrap();
    let top = img.manifest.layers().last().unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(store.open_blob(top.digest()).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut a = tar::Archive::new(&raw[..]);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            if e.header().entry_type().is_dir() {
                format!("{}/", p.trim_end_matches('/'))
            } else {
                p
            }
        })
        .collect()
}

/// Names of the store's refs.
pub fn ref_names(store_root: &Path) -> Vec<String> {
    let store = Store::open(store_root).unwrap();
    store.refs().unwrap().into_iter().map(|(n, _)| n).collect()
}

/// Files under blobs/sha256.
pub fn blob_count(store_root: &Path) -> usize {
    fs::read_dir(store_root.join("blobs/sha256"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}
