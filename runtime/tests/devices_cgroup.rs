//! The device cgroup against the real kernel (root): rules applied to a
//! fresh v2 cgroup (the unified hierarchy of this hybrid host, where device
//! eBPF programs work) and to a v1 devices cgroup, then a busybox shell moved
//! into each tries to open and mknod devices.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth::cgroups::devices::{apply_v1, apply_v2, rules, Rule};
use berth::sys::bpf;

mod common;

const BUSYBOX: &str = "/bin/busybox";
/// The cgroup2 mount: the unified one of a hybrid host, or the only one.
fn unified() -> String {
    common::cgroup_mounts()
        .into_iter()
        .find(|m| m.v2)
        .expect("a cgroup2 mount")
        .point
        .to_string_lossy()
        .into_owned()
}

/// The v1 devices hierarchy, where the host has one.
fn v1_devices() -> Option<String> {
    common::cgroup_mounts()
        .into_iter()
        .find(|m| !m.v2 && m.controllers.iter().any(|c| c == "devices"))
        .map(|m| m.point.to_string_lossy().into_owned())
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "device cgroup tests need root"
    );
    assert!(Path::new(BUSYBOX).exists(), "tests need {BUSYBOX}");
}

/// A test cgroup, removed on drop (after its processes have exited).
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(root: &str, name: &str) -> Cgroup {
        let p = PathBuf::from(root).join(format!("berth-devtest-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir(&p);
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        Cgroup(p)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..500 {
            match std::fs::remove_dir(&self.0) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                _ => return,
            }
        }
    }
}

fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
    Rule {
        allow,
        kind,
        major,
        minor,
        access: access.into(),
    }
}

/// What a shell inside `cgroup` could do: one "<what> ok|denied|error"
/// line per probe, and the error text for the denied ones.
fn probe(cgroup: &Path) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("kmsg-node");
    let script = format!(
        r#"echo $$ > {procs} || exit 99
try() {{ if out=$( (eval "$2") 2>&1 ); then echo "$1 ok"; else
  case "$out" in *"not permitted"*) echo "$1 denied";; *) echo "$1 error: $out";; esac; fi; }}
try read-null 'true < /dev/null'
try write-null 'true > /dev/null'
try read-kmsg 'true < /dev/kmsg'
try write-kmsg 'true >> /dev/kmsg'
try mknod '{bb} mknod {node} c 1 11'
try read-node 'true < {node}'
"#,
        procs = cgroup.join("cgroup.procs").display(),
        bb = BUSYBOX,
        node = node.display(),
    );
    let out = Command::new(BUSYBOX)
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "probe shell failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn berth_programs(cgroup: &Path) -> Vec<String> {
    let dir = std::fs::File::open(cgroup).unwrap();
    use std::os::fd::AsFd;
    bpf::query(dir.as_fd())
        .unwrap()
        .into_iter()
        .map(|id| bpf::prog_name(bpf::prog_fd_by_id(id).unwrap()).unwrap())
        .collect()
}

#[test]
fn v2_program_enforces_rules_and_replaces_itself() {
    require_root();
    let cg = Cgroup::new(&unified(), "v2");
    apply_v2(&cg.0, &rules(&[], &[])).unwrap();
    assert_eq!(berth_programs(&cg.0), ["berth_devices"]);
    assert_eq!(
        probe(&cg.0),
        [
            "read-null ok",
            "write-null ok",
            "read-kmsg denied",
            "write-kmsg denied",
            "mknod ok",
            "read-node denied",
        ]
    );

    // kmsg readable but not writable, and no mknod at all.
    let next = [
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'c', Some(1), Some(3), "rw"),
        rule(true, 'c', Some(1), Some(11), "r"),
    ];
    apply_v2(&cg.0, &next).unwrap();
    assert_eq!(berth_programs(&cg.0), ["berth_devices"]);
    let probed = probe(&cg.0);
    assert_eq!(
        &probed[..5],
        [
            "read-null ok",
            "write-null ok",
            "read-kmsg ok",
            "write-kmsg denied",
            "mknod denied",
        ]
    );
    // The node was never made.
    assert!(probed[5].starts_with("read-node error"), "{probed:?}");
}

#[test]
fn v2_leaves_foreign_programs_attached() {
    require_root();
    let cg = Cgroup::new(&unified(), "foreign");
    // An allow-everything program someone else attached.
    let allow_all = [
        bpf::Insn::new(0xb4, 0, 0, 0, 1),
        bpf::Insn::new(0x95, 0, 0, 0, 0),
    ];
    let other = bpf::load_cgroup_device(&allow_all, c"GPL", "other_devices").unwrap();
    let dir = std::fs::File::open(&cg.0).unwrap();
    use std::os::fd::AsFd;
    bpf::attach(dir.as_fd(), other.as_fd(), bpf::BPF_F_ALLOW_MULTI, None).unwrap();
    for _ in 0..3 {
        apply_v2(&cg.0, &rules(&[], &[])).unwrap();
    }
    let mut names = berth_programs(&cg.0);
    names.sort();
    assert_eq!(names, ["berth_devices", "other_devices"]);
    assert!(probe(&cg.0).contains(&"read-kmsg denied".to_string()));
}

#[test]
fn verifier_log_comes_with_a_failed_load() {
    require_root();
    // Exits without setting R0.
    let bad = [bpf::Insn::new(0x95, 0, 0, 0, 0)];
    let err = bpf::load_cgroup_device(&bad, c"Apache", "bad").unwrap_err();
    assert_eq!(err.error.raw_os_error(), Some(libc::EACCES), "{err:?}");
    assert!(err.log.contains("R0"), "log: {}", err.log);
}

fn list(cg: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(cg.join("devices.list"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn v1_devices_cgroup_gets_runc_list_and_updates() {
    require_root();
    let Some(devices) = v1_devices() else {
        // A pure cgroup2 host (the qemu guest stage): v1 runs on the host.
        eprintln!("no v1 devices hierarchy here; this test runs on v1 hosts");
        return;
    };
    let cg = Cgroup::new(&devices, "v1");
    apply_v1(&cg.0, &rules(&[], &[])).unwrap();
    // What runc 1.1.5 leaves in devices.list for the same config.
    let mut runc = vec![
        "b *:* m",
        "c *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
        "c 136:* rwm",
    ];
    runc.sort();
    assert_eq!(list(&cg.0), runc);
    let probed = probe(&cg.0);
    assert_eq!(
        probed,
        [
            "read-null ok",
            "write-null ok",
            "read-kmsg denied",
            "write-kmsg denied",
            "mknod ok",
            "read-node denied",
        ]
    );

    let next = [
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'c', Some(1), Some(3), "rw"),
        rule(true, 'c', Some(1), Some(11), "r"),
    ];
    apply_v1(&cg.0, &next).unwrap();
    assert_eq!(list(&cg.0), ["c 1:11 r", "c 1:3 rw"]);
    let probed = probe(&cg.0);
    assert_eq!(
        &probed[..5],
        [
            "read-null ok",
            "write-null ok",
            "read-kmsg ok",
            "write-kmsg denied",
            "mknod denied"
        ]
    );

    // v1 cannot punch a hole into a wildcard: refused, nothing written.
    let hole = [
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'c', Some(1), None, "rwm"),
        rule(false, 'c', Some(1), Some(11), "r"),
    ];
    let err = apply_v1(&cg.0, &hole).unwrap_err().to_string();
    assert!(err.contains("cannot express"), "{err}");
    assert_eq!(list(&cg.0), ["c 1:11 r", "c 1:3 rw"]);
}
