//! linux.resources, update, pause/resume, ps and the cgroup error paths,
//! with real containers on whatever cgroup version the host mounts (v1 or
//! hybrid here, pure v2 in the qemu guest stage). Values are read from
//! inside the container where it can see them, and from the host's
//! cgroupfs for what changes while it runs.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ok, stderr, stdout, Bundle};
use serde_json::{json, Value};

fn v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The container-side path of a cgroup file: v1 under the controller's
/// hierarchy, v2 in the one directory.
fn inside(controller: &str, v1: &str, v2file: &str) -> String {
    match v2() {
        true => format!("/sys/fs/cgroup/{v2file}"),
        false => format!("/sys/fs/cgroup/{controller}/{v1}"),
    }
}

/// The container's cgroup directory holding `controller`, from its state.
fn host_dir(b: &Bundle, id: &str, controller: &str) -> PathBuf {
    let st: Value =
        serde_json::from_slice(&std::fs::read(b.root.join(id).join("state.json")).unwrap())
            .unwrap();
    let paths: Vec<PathBuf> = serde_json::from_value(st["berth"]["cgroup_paths"].clone()).unwrap();
    if v2() {
        return paths[0].clone();
    }
    paths
        .into_iter()
        .find(|p| {
            p.strip_prefix("/sys/fs/cgroup")
                .ok()
                .and_then(|r| r.components().next())
                .is_some_and(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .split(',')
                        .any(|x| x == controller)
                })
        })
        .unwrap_or_else(|| panic!("no {controller} hierarchy in the state of {id}"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn wait_status(b: &Bundle, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state(id)["status"] != want {
        assert!(Instant::now() < deadline, "{id} never became {want}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn cat_script(files: &[String]) -> String {
    files
        .iter()
        .map(|f| format!("echo \"{f}=$(cat {f})\""))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn resources_are_what_the_container_sees_in_its_cgroup() {
    let files = [
        inside("memory", "memory.limit_in_bytes", "memory.max"),
        inside("cpu", "cpu.shares", "cpu.weight"),
        inside("cpu", "cpu.cfs_quota_us", "cpu.max"),
        inside("pids", "pids.max", "pids.max"),
        inside("cpuset", "cpuset.cpus", "cpuset.cpus"),
    ];
    let mut b = Bundle::new(&["sh", "-c", &cat_script(&files)]);
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 64 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 20}
    });
    let out = ok(&b.run_container("res"));
    let expect: [&str; 5] = match v2() {
        // shares 512 -> weight 1 + (510 * 9999) / 262142 = 20 (runc's linear map).
        true => ["67108864", "20", "50000 100000", "20", "0"],
        false => ["67108864", "512", "50000", "20", "0"],
    };
    for (f, want) in files.iter().zip(expect) {
        assert!(
            out.contains(&format!("{f}={want}\n")),
            "{f} should be {want}:\n{out}"
        );
    }
}

#[test]
fn update_merges_into_what_was_applied_and_stores_it() {
    let mut b = Bundle::new(&["sleep", "100"]);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}});
    ok(&b.create("upd", &[]));
    ok(&b.run(&["start", "upd"]));
    let mem = host_dir(&b, "upd", "memory");
    let pids = host_dir(&b, "upd", "pids");
    let mem_file = mem.join(if v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    });
    ok(&b.run(&["update", "--memory", "128m", "upd"]));
    assert_eq!(read(&mem_file), (128u64 << 20).to_string());
    assert_eq!(
        read(&pids.join("pids.max")),
        "20",
        "an update of memory keeps pids"
    );
    ok(&b.run(&["update", "--pids-limit", "30", "upd"]));
    assert_eq!(read(&pids.join("pids.max")), "30");
    assert_eq!(
        read(&mem_file),
        (128u64 << 20).to_string(),
        "an update of pids keeps memory"
    );
    let st: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("upd/state.json")).unwrap()).unwrap();
    assert_eq!(st["berth"]["resources"]["memory"]["limit"], 128 << 20);
    assert_eq!(st["berth"]["resources"]["pids"]["limit"], 30);

    // containerd and CRI-O send LinuxResources JSON on stdin.
    let mut cmd = b.berth();
    cmd.args(["update", "--resources", "-", "upd"]);
    let res = pipe_stdin(&mut cmd, r#"{"pids":{"limit":44}}"#);
    ok(&res);
    assert_eq!(read(&pids.join("pids.max")), "44");
    let mut cmd = b.berth();
    cmd.args(["update", "--resources", "-", "upd"]);
    let bad = pipe_stdin(&mut cmd, r#"{"memory":{"limit":"lots"}}"#);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("memory.limit"), "{}", stderr(&bad));

    let rdt = b.run(&["update", "--l3-cache-schema", "L3:0=f", "upd"]);
    assert!(stderr(&rdt).contains("Intel RDT"), "{}", stderr(&rdt));
    ok(&b.run(&["kill", "upd", "KILL"]));
    wait_status(&b, "upd", "stopped");
    let late = b.run(&["update", "--memory", "1g", "upd"]);
    assert!(
        stderr(&late).contains("container not running"),
        "{}",
        stderr(&late)
    );
}

fn pipe_stdin(cmd: &mut std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pause_resume_with_runc_rules_and_kill_of_a_paused_container() {
    let b = Bundle::new(&["sleep", "100"]);
    ok(&b.create("pz", &[]));
    ok(&b.run(&["start", "pz"]));
    ok(&b.run(&["pause", "pz"]));
    assert_eq!(b.state("pz")["status"], "paused");
    let dir = host_dir(&b, "pz", "freezer");
    match v2() {
        true => assert!(read(&dir.join("cgroup.events")).contains("frozen 1")),
        false => assert_eq!(read(&dir.join("freezer.state")), "FROZEN"),
    }
    let list = ok(&b.run(&["list"]));
    assert!(list.contains("paused"), "{list}");
    let again = b.run(&["pause", "pz"]);
    assert!(
        stderr(&again).contains("container not running"),
        "{}",
        stderr(&again)
    );
    ok(&b.run(&["resume", "pz"]));
    assert_eq!(b.state("pz")["status"], "running");
    let again = b.run(&["resume", "pz"]);
    assert!(
        stderr(&again).contains("container not paused"),
        "{}",
        stderr(&again)
    );

    ok(&b.run(&["pause", "pz"]));
    ok(&b.run(&["kill", "pz", "KILL"]));
    wait_status(&b, "pz", "stopped");
    ok(&b.run(&["delete", "pz"]));

    ok(&b.create("pz2", &[]));
    ok(&b.run(&["start", "pz2"]));
    ok(&b.run(&["pause", "pz2"]));
    let dir2 = host_dir(&b, "pz2", "freezer");
    ok(&b.run(&["delete", "--force", "pz2"]));
    assert!(
        !dir2.exists(),
        "delete --force of a paused container removes its cgroup"
    );
    assert!(!b.root.join("pz2").exists());
}

#[test]
fn ps_lists_every_process_of_the_container() {
    let b = Bundle::new(&["sh", "-c", "sleep 100 & sleep 100"]);
    ok(&b.create("ps", &[]));
    ok(&b.run(&["start", "ps"]));
    let init = b.state("ps")["pid"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let pids: Vec<i64> = loop {
        let pids: Vec<i64> =
            serde_json::from_str(&ok(&b.run(&["ps", "--format", "json", "ps"]))).unwrap();
        if pids.len() >= 2 || Instant::now() > deadline {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        pids.contains(&init) && pids.len() == 2,
        "{pids:?} (init {init})"
    );
    let table = ok(&b.run(&["ps", "ps", "--", "-o", "pid,comm"]));
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows.iter().all(|r| r.contains("sleep") || r.contains("sh")),
        "{table}"
    );
}

#[test]
fn a_value_the_kernel_refuses_names_the_field_and_leaves_nothing() {
    let mut b = Bundle::new(&["true"]);
    b.config["linux"]["cgroupsPath"] = json!("/berth-it/refused");
    b.config["linux"]["resources"] = json!({"cpu": {"cpus": "999"}});
    let out = b.create("refused", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("linux.resources.cpu.cpus"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!b.root.join("refused").exists());
    let leftover = match v2() {
        true => PathBuf::from("/sys/fs/cgroup/berth-it/refused"),
        false => PathBuf::from("/sys/fs/cgroup/cpuset/berth-it/refused"),
    };
    assert!(!leftover.exists(), "{} left behind", leftover.display());
    // The parent is the caller's to remove, as with runc.
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(h.path().join("berth-it"));
    }
    let _ = std::fs::remove_dir("/sys/fs/cgroup/berth-it");
}

#[test]
fn fields_the_cgroup_version_cannot_express_are_errors() {
    let mut b = Bundle::new(&["true"]);
    let (res, field) = match v2() {
        true => (
            json!({"network": {"classID": 1048577}}),
            "linux.resources.network",
        ),
        false => (
            json!({"unified": {"memory.high": "1000000"}}),
            "linux.resources.unified",
        ),
    };
    b.config["linux"]["resources"] = res;
    let out = b.create("ver", &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(field), "{}", stderr(&out));
    assert!(!b.root.join("ver").exists());
}

#[test]
fn systemd_cgroup_is_a_clear_error_and_creates_nothing() {
    let mut b = Bundle::new(&["true"]);
    b.config["linux"]["cgroupsPath"] = json!("system.slice:berth:sd");
    b.save();
    let bundle = b.path().to_str().unwrap().to_string();
    let out = b.run(&["--systemd-cgroup", "create", "--bundle", &bundle, "sd"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("berth-sd.scope"), "{}", stderr(&out));
    assert!(!b.root.join("sd").exists());
    b.config["linux"]["cgroupsPath"] = json!("/not/systemd");
    b.save();
    let out = b.run(&["--systemd-cgroup", "create", "--bundle", &bundle, "sd"]);
    assert!(
        stderr(&out).contains("linux.cgroupsPath"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn relative_cgroups_path_is_below_the_callers_own_cgroup() {
    let mut b = Bundle::new(&["sleep", "100"]);
    b.config["linux"]["cgroupsPath"] = json!("berth-rel/c1");
    ok(&b.create("rel", &[]));
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let pids_line = own
        .lines()
        .find(|l| match v2() {
            true => l.starts_with("0::"),
            false => l
                .split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == "pids")),
        })
        .unwrap();
    let own_path = pids_line
        .splitn(3, ':')
        .nth(2)
        .unwrap()
        .trim_start_matches('/');
    let dir = host_dir(&b, "rel", "pids");
    let want = Path::new("/sys/fs/cgroup")
        .join(if v2() { "" } else { "pids" })
        .join(own_path)
        .join("berth-rel/c1");
    assert_eq!(dir, want);
    assert!(dir.is_dir());
    let st: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("rel/state.json")).unwrap()).unwrap();
    let all: Vec<PathBuf> = serde_json::from_value(st["berth"]["cgroup_paths"].clone()).unwrap();
    ok(&b.run(&["delete", "--force", "rel"]));
    assert!(!dir.exists(), "delete removes the cgroup");
    for p in all {
        assert!(!p.exists(), "{} left behind", p.display());
        let _ = std::fs::remove_dir(p.parent().unwrap());
    }
}

#[test]
fn device_cgroup_denies_nodes_outside_the_allow_list() {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "mknod /tmp/mem c 1 1 && echo made; head -c1 /tmp/mem >/dev/null 2>/tmp/err; echo rc=$?; cat /tmp/err; echo x >/dev/null && echo null-ok",
    ]);
    // The capability is not what refuses /dev/mem: the device cgroup is.
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    let out = b.run_container("dev");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("made"),
        "mknod is allowed by the standard list: {text}"
    );
    assert!(
        text.contains("rc=1") && text.contains("not permitted"),
        "/dev/mem must be refused: {text}"
    );
    assert!(text.contains("null-ok"), "{text}");
}

#[test]
fn hugepage_limits_land_wherever_the_host_has_hugetlb() {
    let mut b = Bundle::new(&["sleep", "100"]);
    b.config["linux"]["resources"] =
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]});
    ok(&b.create("huge", &[]));
    let st: Value =
        serde_json::from_slice(&std::fs::read(b.root.join("huge/state.json")).unwrap()).unwrap();
    let paths: Vec<PathBuf> = serde_json::from_value(st["berth"]["cgroup_paths"].clone()).unwrap();
    // v1 hierarchy, the unified one of a hybrid host, or the v2 directory.
    let file = paths
        .iter()
        .flat_map(|p| {
            [
                p.join("hugetlb.2MB.limit_in_bytes"),
                p.join("hugetlb.2MB.max"),
            ]
        })
        .find(|f| f.exists())
        .expect("a hugetlb controller in the container's cgroups");
    assert_eq!(read(&file), (4u64 << 20).to_string());
    ok(&b.run(&["delete", "--force", "huge"]));
    // On a hybrid host berth had to enable hugetlb in the unified tree;
    // give it back, or the host can no longer mount a v1 hugetlb hierarchy
    // (crun 1.8 needs one here).
    if Path::new("/sys/fs/cgroup/unified/berth").exists() {
        let _ = std::fs::write(
            "/sys/fs/cgroup/unified/berth/cgroup.subtree_control",
            "-hugetlb",
        );
        let _ = std::fs::write("/sys/fs/cgroup/unified/cgroup.subtree_control", "-hugetlb");
    }
}

#[test]
fn an_init_oom_killed_during_setup_says_so_and_leaves_nothing() {
    let mut b = Bundle::new(&["true"]);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 1024, "swap": 1024}});
    let out = b.run_container("oomset");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("OOM-killed (memory limit too low?)"),
        "{}",
        stderr(&out)
    );
    assert!(!b.root.join("oomset").exists());
}
