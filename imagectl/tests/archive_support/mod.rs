//! Helpers for tests/archive.rs: bounded tool runs, temp dirs, a small
//! busybox image built with umoci (two layers, with the entry kinds export
//! must keep), private podman and containerd instances.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub use crate::common::*;

pub fn imagectl_ok(root: &Path, args: &[&str]) -> Output {
    let o = imagectl(root, args);
    assert!(o.status.success(), "imagectl {args:?}: {}", stderr(&o));
    o
}

pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

/// An OCI layout `work/oci` with image `bb`: layer 1 busybox (+ sh link,
/// passwd, a hard link, a file owned by 1000 with an xattr, a setuid
/// file), layer 2 one more file; cmd `/bin/sh`.
pub fn build_busybox(work: &Path) -> PathBuf {
    need("umoci", "umoci");
    let layout = work.join("oci");
    let img = format!("{}:bb", layout.display());
    let b = work.join("build");
    ok(60, "umoci", &["init", "--layout", layout.to_str().unwrap()]);
    ok(60, "umoci", &["new", "--image", &img]);
    ok(
        60,
        "umoci",
        &["unpack", "--image", &img, b.to_str().unwrap()],
    );
    let r = b.join("rootfs");
    for d in ["bin", "etc", "data", "tmp"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    fs::copy(BUSYBOX, r.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "sleep"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    fs::write(r.join("data/hl1"), "linked").unwrap();
    fs::hard_link(r.join("data/hl1"), r.join("data/hl2")).unwrap();
    fs::write(r.join("data/owned"), "mine").unwrap();
    nix::unistd::chown(&r.join("data/owned"), Some(1000.into()), Some(1000.into())).unwrap();
    xattr::set(r.join("data/owned"), "user.test", b"hello").unwrap();
    fs::write(r.join("data/suid"), "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(r.join("data/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    ok(
        60,
        "umoci",
        &["repack", "--image", &img, b.to_str().unwrap()],
    );
    fs::remove_dir_all(&b).unwrap();
    ok(
        60,
        "umoci",
        &["unpack", "--image", &img, b.to_str().unwrap()],
    );
    fs::write(b.join("rootfs/etc/second"), "second layer\n").unwrap();
    ok(
        60,
        "umoci",
        &["repack", "--image", &img, b.to_str().unwrap()],
    );
    ok(
        60,
        "umoci",
        &["config", "--image", &img, "--config.cmd", "/bin/sh"],
    );
    fs::remove_dir_all(&b).unwrap();
    layout
}

/// A store at `work/<name>` holding the busybox image as
/// docker.io/library/busybox:latest.
pub fn busybox_store(work: &Path, layout: &Path, name: &str) -> PathBuf {
    need("skopeo", "skopeo");
    let store = work.join(name);
    imagectl::store::Store::open(&store).unwrap();
    ok(
        120,
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("oci:{}:bb", layout.display()),
            &format!("oci:{}:docker.io/library/busybox:latest", store.display()),
        ],
    );
    store
}

/// `imagectl inspect`'s view: (image id, layer digests, diff_ids).
pub fn inspect(store: &Path, image: &str) -> serde_json::Value {
    json(&imagectl_ok(store, &["inspect", image]).stdout)
}

/// The names in a store's index.json.
pub fn names(store: &Path) -> Vec<String> {
    let idx = json(&fs::read(store.join("index.json")).unwrap());
    let mut v: Vec<String> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// The blob file names of a store.
pub fn blobs(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// podman with a private store (vfs) under `dir`.
pub fn podman(dir: &Path, args: &[&str]) -> Output {
    need("podman", "podman");
    let root = dir.join("podman-root");
    let runroot = dir.join("podman-run");
    let mut a = vec![
        "--root",
        root.to_str().unwrap(),
        "--runroot",
        runroot.to_str().unwrap(),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
    ];
    a.extend_from_slice(args);
    ok(120, "podman", &a)
}

/// A private containerd; killed on drop.
pub struct Containerd {
    pub sock: PathBuf,
    child: Child,
}

impl Containerd {
    pub fn start(dir: &Path) -> Containerd {
        need("containerd", "containerd");
        let d = dir.join("containerd");
        fs::create_dir_all(&d).unwrap();
        let sock = d.join("c.sock");
        let cfg = d.join("config.toml");
        fs::write(
            &cfg,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\", \
                 \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.devmapper\", \
                 \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.tracing.processor.v1.otlp\", \
                 \"io.containerd.internal.v1.tracing\"]\n\
                 [grpc]\n  address = \"{1}\"\n[ttrpc]\n  address = \"{1}.ttrpc\"\n",
                d.display(),
                sock.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(d.join("log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let c = Containerd { sock, child };
        for _ in 0..100 {
            if run(
                5,
                "ctr",
                &["--address", c.sock.to_str().unwrap(), "version"],
            )
            .status
            .success()
            {
                return c;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "containerd did not come up: {}",
            fs::read_to_string(d.join("log")).unwrap()
        );
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        let mut a = vec!["--address", self.sock.to_str().unwrap(), "-n", "archive"];
        a.extend_from_slice(args);
        ok(60, "ctr", &a)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (name, kind char, mode, uid, gid, link target) of every entry of a tar.
pub fn tar_entries(bytes: &[u8]) -> Vec<(String, char, u32, u64, u64, Option<String>)> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                tar::EntryType::Char => 'c',
                tar::EntryType::Block => 'b',
                tar::EntryType::Fifo => 'p',
                _ => '-',
            };
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                kind,
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
            )
        })
        .collect()
}
