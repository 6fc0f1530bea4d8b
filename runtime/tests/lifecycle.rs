//! The runc CLI contract, end to end with real containers: create, start,
//! state, kill, delete, run, list, pid files, exit codes, error texts.

mod common;

use common::{ok, stderr, Bundle};
use std::time::{Duration, Instant};

fn wait_stopped(b: &Bundle, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state(id)["status"] != "stopped" {
        assert!(Instant::now() < deadline, "{id} did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn create_start_kill_delete_lifecycle() {
    let b = Bundle::new(&["/bin/sleep", "100"]);
    let pid_file = b.path().join("init.pid");
    ok(&b.create("life", &["--pid-file", pid_file.to_str().unwrap()]));
    let st = b.state("life");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "life");
    assert_eq!(
        st["bundle"],
        b.path().canonicalize().unwrap().to_str().unwrap()
    );
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // The init is blocked before exec: still berth, not sleep.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep");

    ok(&b.run(&["start", "life"]));
    assert_eq!(b.state("life")["status"], "running");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(
        comm.trim(),
        "sleep",
        "start returns after the user process is exec'd"
    );

    let again = b.run(&["start", "life"]);
    assert!(!again.status.success());
    let del = b.run(&["delete", "life"]);
    assert!(!del.status.success());
    assert!(
        stderr(&del).contains("cannot delete container life that is not stopped: running"),
        "{}",
        stderr(&del)
    );

    ok(&b.run(&["kill", "life", "KILL"]));
    wait_stopped(&b, "life");
    assert_eq!(b.state("life")["pid"], 0);
    let k = b.run(&["kill", "life", "KILL"]);
    assert!(!k.status.success());
    assert!(stderr(&k).contains("container not running"));
    ok(&b.run(&["delete", "life"]));
    let gone = b.run(&["state", "life"]);
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("does not exist"));
}

#[test]
fn run_exits_with_container_code_and_128_plus_signal() {
    let b = Bundle::new(&["/bin/sh", "-c", "exit 7"]);
    assert_eq!(b.run_container("code7").status.code(), Some(7));
    // PID 1 of a PID namespace cannot be SIGKILLed from inside: kill it from
    // the host while `run` waits in the foreground.
    let b = Bundle::new(&["/bin/sleep", "100"]);
    b.save();
    let path = b.path().to_str().unwrap().to_string();
    let mut fg = b
        .berth()
        .args(["run", "--bundle", &path, "sig9"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.run(&["state", "sig9"]).stdout.is_empty() || b.state("sig9")["status"] != "running" {
        assert!(Instant::now() < deadline, "sig9 never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(&b.run(&["kill", "sig9", "KILL"]));
    assert_eq!(fg.wait().unwrap().code(), Some(137));
    assert!(
        !b.root.join("sig9").exists(),
        "run deletes the container afterwards"
    );
}

#[test]
fn run_keep_leaves_stopped_state() {
    let b = Bundle::new(&["/bin/true"]);
    let path = b.path().to_str().unwrap().to_string();
    ok(&b.run(&["run", "--keep", "--bundle", &path, "kept"]));
    assert_eq!(b.state("kept")["status"], "stopped");
    ok(&b.run(&["delete", "kept"]));
}

#[test]
fn run_detach_then_kill_by_number() {
    let b = Bundle::new(&["/bin/sleep", "100"]);
    let path = b.path().to_str().unwrap().to_string();
    ok(&b.run(&["run", "-d", "--bundle", &path, "det"]));
    assert_eq!(b.state("det")["status"], "running");
    ok(&b.run(&["kill", "det", "9"]));
    wait_stopped(&b, "det");
    ok(&b.run(&["delete", "det"]));
}

#[test]
fn unknown_container_errors_use_runc_wording() {
    let b = Bundle::new(&["/bin/true"]);
    for args in [
        vec!["state", "nope"],
        vec!["kill", "nope", "9"],
        vec!["delete", "nope"],
        vec!["start", "nope"],
    ] {
        let o = b.run(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("container does not exist"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    ok(&b.run(&["delete", "--force", "nope"]));
}

#[test]
fn list_shows_containers_as_table_json_and_ids() {
    let b = Bundle::new(&["/bin/sleep", "100"]);
    ok(&b.create("l1", &[]));
    let table = ok(&b.run(&["list"]));
    assert!(
        table.starts_with("ID          PID         STATUS"),
        "{table}"
    );
    assert!(table.lines().nth(1).unwrap().contains("created"));
    let json: serde_json::Value =
        serde_json::from_str(&ok(&b.run(&["list", "--format", "json"]))).unwrap();
    assert_eq!(json[0]["id"], "l1");
    assert_eq!(ok(&b.run(&["list", "-q"])), "l1\n");
}

#[test]
fn log_file_gets_logrus_json_error_line() {
    let b = Bundle::new(&["/bin/true"]);
    let log = b.path().join("log.json");
    let o = common::capture(b.berth().args(["--log"]).arg(&log).args([
        "--log-format",
        "json",
        "state",
        "ghost",
    ]));
    assert!(!o.status.success());
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn version_and_features() {
    let out = ok(&std::process::Command::new(common::berth_bin())
        .arg("--version")
        .output()
        .unwrap());
    assert!(out.starts_with("berth version "), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("spec: 1."), "{out}");
    let f: serde_json::Value =
        serde_json::from_str(&ok(&std::process::Command::new(common::berth_bin())
            .arg("features")
            .output()
            .unwrap()))
        .unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "time"));
}

#[test]
fn created_container_writes_to_the_stdio_create_was_given() {
    let b = Bundle::new(&["/bin/echo", "from-inside"]);
    b.save();
    let path = b.path().to_str().unwrap().to_string();
    let out_file = b.path().join("out.txt");
    let f = std::fs::File::create(&out_file).unwrap();
    let st = b
        .berth()
        .args(["create", "--bundle", &path, "io"])
        .stdout(f)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "",
        "nothing runs before start"
    );
    ok(&b.run(&["start", "io"]));
    wait_stopped(&b, "io");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "from-inside\n");
    ok(&b.run(&["delete", "io"]));
}

#[test]
fn kill_all_and_delete_force_reach_every_process() {
    // Without a PID namespace, killing the init alone would orphan its
    // children; --all must reach them through the cgroup. TERM goes through
    // the freezer (freeze, signal each pid, thaw), KILL through cgroup.kill.
    for (id, sig) in [("killall-term", "TERM"), ("killall-kill", "KILL")] {
        let mut b = Bundle::new(&["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"]);
        b.config["linux"]["namespaces"] =
            serde_json::json!([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]);
        b.config["linux"]["cgroupsPath"] = serde_json::json!(format!("/berth-it/{id}"));
        b.save();
        let path = b.path().to_str().unwrap().to_string();
        ok(&b.run(&["run", "-d", "--bundle", &path, id]));
        let procs_file =
            common::cgroup_dir("pids", &format!("/berth-it/{id}")).join("cgroup.procs");
        let procs = || -> Vec<String> {
            std::fs::read_to_string(&procs_file)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while procs().len() < 3 {
            assert!(
                Instant::now() < deadline,
                "children never started: {:?}",
                procs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        ok(&b.run(&["kill", "--all", id, sig]));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !procs().is_empty() {
            assert!(
                Instant::now() < deadline,
                "{sig} left running: {:?}",
                procs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let freezer = common::cgroup_dir("freezer", &format!("/berth-it/{id}"));
        assert!(!common::cgroup_frozen(&freezer), "left frozen");
        ok(&b.run(&["delete", id]));
        assert!(!procs_file.exists());
    }

    let b = Bundle::new(&["/bin/sleep", "100"]);
    let path = b.path().to_str().unwrap().to_string();
    ok(&b.run(&["run", "-d", "--bundle", &path, "forced"]));
    let pid = b.state("forced")["pid"].as_i64().unwrap();
    ok(&b.run(&["delete", "--force", "forced"]));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(" Z ")
    );
    assert!(!b.root.join("forced").exists());
}

#[test]
fn no_pivot_runs_with_move_and_chroot() {
    let b = Bundle::new(&["/bin/sh", "-c", "ls /; cat /proc/self/mountinfo | head -1"]);
    b.save();
    let path = b.path().to_str().unwrap().to_string();
    let out = ok(&b.run(&["run", "--no-pivot", "--bundle", &path, "nopivot"]));
    assert!(out.contains("bin\n") && out.contains("proc\n"), "{out}");
}

#[test]
fn missing_config_duplicate_id_and_relative_bundle() {
    let b = Bundle::new(&["/bin/sleep", "100"]);
    let empty = tempfile::tempdir().unwrap();
    let out = b.run(&[
        "create",
        "--bundle",
        empty.path().to_str().unwrap(),
        "noconfig",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("config.json: No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(!b.root.join("noconfig").exists());

    ok(&b.create("dup", &[]));
    let again = b.create("dup", &[]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("container with id \"dup\" already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        b.state("dup")["status"],
        "created",
        "the first container is untouched"
    );
    ok(&b.run(&["delete", "dup"]));

    // A relative --bundle is resolved against the caller's cwd, as runc does,
    // and recorded absolute.
    let parent = b.path().parent().unwrap();
    let rel = b.path().file_name().unwrap().to_str().unwrap();
    let out = common::capture(b.berth().current_dir(parent).args([
        "create",
        "--bundle",
        rel,
        "relbundle",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        b.state("relbundle")["bundle"],
        b.path().canonicalize().unwrap().to_str().unwrap()
    );
    ok(&b.run(&["delete", "relbundle"]));
}

#[test]
fn killed_launcher_leaves_no_init_and_delete_frees_the_id() {
    let mut b = Bundle::new(&["/bin/sleep", "100"]);
    b.config["hooks"] =
        serde_json::json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "2"]}]});
    b.config["linux"]["cgroupsPath"] = serde_json::json!("/berth-it/killedlauncher");
    b.save();
    let procs_file = common::cgroup_dir("pids", "/berth-it/killedlauncher").join("cgroup.procs");
    let procs = || std::fs::read_to_string(&procs_file).unwrap_or_default();
    let path = b.path().to_str().unwrap().to_string();
    let mut launcher = b
        .berth()
        .args(["create", "--bundle", &path, "killed"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while procs().trim().is_empty() {
        assert!(
            Instant::now() < deadline,
            "init never appeared in its cgroup"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    launcher.kill().unwrap();
    launcher.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !procs().trim().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the init outlived its killed launcher: {}",
            procs()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The half-made state directory must not keep the id taken.
    ok(&b.run(&["delete", "killed"]));
    assert!(!b.root.join("killed").exists());
    // Known leak (noted on the issue): the cgroup of a killed launcher.
    for dir in common::cgroup_dirs("/berth-it/killedlauncher") {
        let _ = std::fs::remove_dir(dir);
    }
}
