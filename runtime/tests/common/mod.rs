//! Helpers for integration tests that run real containers: a busybox-static
//! bundle built from `berth spec`, a private state root per test, and a
//! wrapper to run berth and capture what happened.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

pub const BUSYBOX: &str = "/bin/busybox";

pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// Integration tests need root and busybox-static; without them they fail
/// loudly rather than pass silently.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "integration tests run real containers and need root"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "integration tests need busybox-static at {BUSYBOX}"
    );
}

/// A bundle in a temp dir plus a private --root for berth.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// A busybox rootfs and berth's default spec with terminal off and the
    /// given args.
    pub fn new(args: &[&str]) -> Bundle {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "cat", "ls", "echo", "sleep", "id", "hostname", "mount", "stat", "touch",
            "mkdir", "readlink", "grep", "true", "false", "umask", "ulimit", "wc", "head", "kill",
            "mknod",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n").unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
        let out = Command::new(berth_bin())
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        let root = dir.path().join("state");
        let b = Bundle { dir, root, config };
        b.save();
        b
    }

    /// Adds a new user namespace mapping container ids 0..65536 to host ids
    /// from `host_base`.
    pub fn with_user_namespace(&mut self, host_base: u32) {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": host_base, "size": 65536}]);
        self.config["linux"]["uidMappings"] = map.clone();
        self.config["linux"]["gidMappings"] = map;
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn save(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// A berth command with this bundle's --root.
    pub fn berth(&self) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root").arg(&self.root);
        c
    }

    /// `berth ARGS` with stdin closed, capturing output into files: a
    /// created container's init keeps the stdio it inherited from `create`,
    /// so pipes would not reach EOF until the container exits.
    pub fn run(&self, args: &[&str]) -> Output {
        capture(self.berth().args(args))
    }

    /// `berth run --bundle B ID` in the foreground.
    pub fn run_container(&self, id: &str) -> Output {
        self.save();
        let b = self.path().to_str().unwrap().to_string();
        self.run(&["run", "--bundle", &b, id])
    }

    pub fn create(&self, id: &str, extra: &[&str]) -> Output {
        self.save();
        let b = self.path().to_str().unwrap().to_string();
        let mut args = vec!["create", "--bundle", &b];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(
            out.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
    }
}

/// Runs `cmd` with stdin closed and stdout/stderr going to temp files.
pub fn capture(cmd: &mut Command) -> Output {
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .unwrap();
    let read = |f: &mut std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// One cgroup hierarchy mounted under /sys/fs/cgroup, from
/// /proc/self/mountinfo: the tests run on v1, hybrid and pure v2 hosts.
pub struct CgroupMount {
    pub point: PathBuf,
    pub v2: bool,
    /// v1: the controllers in the mount options; v2: cgroup.controllers.
    pub controllers: Vec<String>,
}

pub fn cgroup_mounts() -> Vec<CgroupMount> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut mounts = Vec::new();
    for line in info.lines() {
        // id parent major:minor root point options [optional...] - type source superoptions
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let Some(point) = pre.split(' ').nth(4) else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let superopts = post.nth(1).unwrap_or("");
        if !point.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let point = PathBuf::from(point);
        match fstype {
            "cgroup2" => {
                let controllers = std::fs::read_to_string(point.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                mounts.push(CgroupMount {
                    point,
                    v2: true,
                    controllers,
                });
            }
            "cgroup" => {
                let controllers = superopts.split(',').map(String::from).collect();
                mounts.push(CgroupMount {
                    point,
                    v2: false,
                    controllers,
                });
            }
            _ => {}
        }
    }
    mounts
}

/// True on a pure cgroup v2 host (cgroup2 mounted at /sys/fs/cgroup itself).
pub fn cgroup_v2() -> bool {
    cgroup_mounts()
        .iter()
        .any(|m| m.v2 && m.point == Path::new("/sys/fs/cgroup"))
}

/// Where the runtime puts the cgroup of `cgroups_path` for `controller`: the
/// unified directory on a v2 host, that controller's v1 hierarchy otherwise.
pub fn cgroup_dir(controller: &str, cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    let mounts = cgroup_mounts();
    let mount = if cgroup_v2() {
        mounts
            .iter()
            .find(|m| m.v2 && m.point == Path::new("/sys/fs/cgroup"))
    } else {
        mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))
    };
    let mount = mount.unwrap_or_else(|| panic!("no cgroup hierarchy with {controller}"));
    mount.point.join(rel)
}

/// The directory `cgroups_path` would have in every mounted hierarchy, for
/// checks that nothing was left behind.
pub fn cgroup_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    cgroup_mounts()
        .into_iter()
        .map(|m| m.point.join(rel))
        .collect()
}

/// Whether the cgroup at `dir` is frozen: v1 freezer.state, v2 cgroup.freeze.
pub fn cgroup_frozen(dir: &Path) -> bool {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    read("freezer.state").contains("FROZEN") || read("cgroup.freeze").trim() == "1"
}

/// What a pty master reads until `marker` appears (or the other side is
/// gone).
pub fn read_pty_until(master: std::os::fd::OwnedFd, marker: &str) -> String {
    use std::io::Read;
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while !text.contains(marker) {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}
