//! process and linux settings as the container process sees them: user,
//! groups, umask, cwd, env, capabilities, rlimits, oom score, hostname,
//! sysctl, user-namespace maps, joined namespaces, time offsets, hooks,
//! console socket.

mod common;

use common::{ok, stderr, stdout, Bundle};
use serde_json::json;
use std::os::unix::net::UnixListener;

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn user_groups_umask_cwd_env_and_home() {
    let mut b = Bundle::new(&[]);
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 20], "umask": 63});
    b.config["process"]["cwd"] = json!("/work/dir");
    b.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    b.config["process"]["args"] = json!([
        "/bin/sh",
        "-c",
        "id -u; id -g; id -G; umask; pwd; echo $FOO; echo $HOME"
    ]);
    let out = ok(&b.run_container("user"));
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        &l[..7],
        &[
            "1000",
            "1000",
            "1000 5 20",
            "0077",
            "/work/dir",
            "bar baz",
            "/home/app"
        ],
        "{out}"
    );
}

#[test]
fn all_five_capability_sets_are_exact() {
    let mut b = Bundle::new(&["/bin/cat", "/proc/self/status"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    b.config["process"]["noNewPrivileges"] = json!(true);
    let out = ok(&b.run_container("caps"));
    let (kill, nbs, chown) = (1u64 << 5, 1u64 << 10, 1u64 << 0);
    let hex = |k| u64::from_str_radix(&status_field(&out, k), 16).unwrap();
    assert_eq!(hex("CapBnd"), kill | nbs | chown);
    assert_eq!(hex("CapInh"), nbs);
    assert_eq!(hex("CapAmb"), nbs);
    // execve recomputes a non-root user's permitted and effective sets from
    // ambient (no file caps on busybox): KILL was permitted only until exec.
    assert_eq!(hex("CapEff"), nbs);
    assert_eq!(hex("CapPrm"), nbs);
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn root_keeps_bounding_as_permitted_after_exec() {
    let mut b = Bundle::new(&["/bin/cat", "/proc/self/status"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "inheritable": [], "ambient": []
    });
    // With no_new_privs execve may not widen permitted: it stays exactly
    // what berth set.
    b.config["process"]["noNewPrivileges"] = json!(true);
    let out = ok(&b.run_container("rootcaps-nnp"));
    let hex = |out: &str, k| u64::from_str_radix(&status_field(out, k), 16).unwrap();
    assert_eq!(hex(&out, "CapBnd"), (1 << 5) | 1);
    assert_eq!(hex(&out, "CapPrm"), 1 << 5);
    assert_eq!(hex(&out, "CapEff"), 1 << 5);
    // Without it, uid 0 gets file caps treated as full: permitted = bounding.
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = ok(&b.run_container("rootcaps"));
    assert_eq!(hex(&out, "CapPrm"), (1 << 5) | 1);
    assert_eq!(hex(&out, "CapEff"), (1 << 5) | 1);
    assert_eq!(hex(&out, "CapAmb"), 0);
}

#[test]
fn rlimits_and_oom_score_adj() {
    let mut b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj",
    ]);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768}]);
    b.config["process"]["oomScoreAdj"] = json!(300);
    assert_eq!(ok(&b.run_container("limits")), "512\n768\n300\n");
}

#[test]
fn hostname_domainname_and_sysctl() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/shmmni"]);
    b.config["hostname"] = json!("box");
    b.config["domainname"] = json!("example.org");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    assert_eq!(ok(&b.run_container("uts")), "box\nexample.org\n1\n1234\n");
}

#[test]
fn user_namespace_with_several_ranges() {
    let mut b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u",
    ]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 200000, "size": 1000}]);
    let out = b.run_container("userns");
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 5, "{text}{}", stderr(&out));
    assert_eq!(rows[0], vec!["0", "0", "1"]);
    assert_eq!(rows[1], vec!["1", "100000", "65536"]);
    assert_eq!(rows[3], vec!["1", "200000", "1000"]);
    assert_eq!(rows[4], vec!["0"]);
}

#[test]
fn joins_network_namespace_by_path() {
    let peer = Bundle::new(&["/bin/sleep", "100"]);
    let path = peer.path().to_str().unwrap().to_string();
    ok(&peer.run(&["run", "-d", "--bundle", &path, "netpeer"]));
    let pid = peer.state("netpeer")["pid"].as_i64().unwrap();
    let want = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let mut b = Bundle::new(&["/bin/readlink", "/proc/self/ns/net"]);
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{pid}/ns/net"));
        }
    }
    let out = ok(&b.run_container("joiner"));
    assert_eq!(out.trim(), want.to_str().unwrap());
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(want, host);
}

#[test]
fn time_namespace_offsets() {
    let mut b = Bundle::new(&["/bin/cat", "/proc/uptime"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400, "nanosecs": 0}});
    let out = b.run_container("timens");
    let up: f64 = stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("{}", stderr(&out)))
        .parse()
        .unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(up >= host + 86000.0, "container uptime {up} vs host {host}");
}

#[test]
fn all_six_hooks_run_in_order_with_state() {
    let mut b = Bundle::new(&["/bin/true"]);
    let log = b.path().join("hooks.log");
    // startContainer runs inside the container: log through a bind mount.
    let shared = b.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]}),
    );
    let host_hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo \"{name} $s\" >> {}", log.display())]});
    b.config["hooks"] = json!({
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        "createContainer": [host_hook("createContainer")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "read s; echo \"startContainer $s\" >> /shared/start.log"]}],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")]
    });
    b.config["annotations"] = json!({"org.example/k": "v"});
    ok(&b.run_container("hooks"));
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ]
    );
    for line in text.lines() {
        let (name, json) = line.split_once(' ').unwrap();
        let st: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(st["id"], "hooks", "{name}");
        assert_eq!(st["annotations"]["org.example/k"], "v", "{name}");
        let want = match name {
            "poststart" => "running",
            "poststop" => "stopped",
            _ => "creating",
        };
        assert_eq!(st["status"], want, "{name}");
        assert_eq!(st.get("pid").is_some(), name != "poststop", "{name}");
    }
    let start = std::fs::read_to_string(shared.join("start.log")).unwrap();
    assert!(start.starts_with("startContainer {"), "{start}");
}

#[test]
fn failing_prestart_hook_leaves_nothing_behind() {
    let mut b = Bundle::new(&["/bin/sleep", "100"]);
    b.config["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo refused >&2; exit 4"]}]});
    b.config["linux"]["cgroupsPath"] = json!("/berth-it/failhook");
    let out = b.create("failhook", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("prestart hook #0")
            && err.contains("exit status 4")
            && err.contains("refused"),
        "{err}"
    );
    assert!(!b.root.join("failhook").exists(), "state dir left behind");
    for dir in common::cgroup_dirs("/berth-it/failhook") {
        assert!(!dir.exists(), "cgroup left: {}", dir.display());
    }
    let procs = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("grep -l failhook /proc/[0-9]*/cgroup 2>/dev/null | wc -l")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&procs).trim(),
        "0",
        "a process is left in the container's cgroup"
    );
}

#[test]
fn bad_config_names_json_path_and_leaves_nothing() {
    let mut b = Bundle::new(&["/bin/true"]);
    b.config["linux"]["namespaces"][2] = json!({"type": "foo"});
    let out = b.create("badns", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("config.json: linux.namespaces[2].type: unknown variant `foo`"),
        "{err}"
    );
    assert!(!b.root.join("badns").exists());
    let mut b = Bundle::new(&["/bin/true"]);
    b.config["root"]["path"] = json!("missing-rootfs");
    let err = stderr(&b.create("norootfs", &[]));
    assert!(
        err.contains("root.path") && err.contains("missing-rootfs"),
        "{err}"
    );
    let b = Bundle::new(&["/bin/true"]);
    std::fs::write(b.path().join("config.json"), "{\"ociVersion\": ").unwrap();
    let path = b.path().to_str().unwrap().to_string();
    let err = stderr(&b.run(&["create", "--bundle", &path, "broken"]));
    assert!(err.starts_with("berth: config.json: "), "{err}");
    for id in ["/", "..", "a/b"] {
        let o = b.run(&["create", "--bundle", &path, id]);
        assert!(
            !o.status.success() && stderr(&o).contains("invalid container id"),
            "{id}"
        );
    }
}

#[test]
fn missing_program_fails_create_not_start() {
    let b = Bundle::new(&["no-such-program"]);
    let err = stderr(&b.create("noprog", &[]));
    assert!(
        err.contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{err}"
    );
    assert!(!b.root.join("noprog").exists());
}

#[test]
fn console_socket_receives_pty_master() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "tty; echo console-ok"]);
    b.config["process"]["terminal"] = json!(true);
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let out = b.create("tty", &["--console-socket", sock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (conn, _) = listener.accept().unwrap();
    let master = berth::console::recv_fd(&conn).unwrap();
    ok(&b.run(&["start", "tty"]));
    let text = common::read_pty_until(master, "console-ok");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("console-ok"), "{text}");
}

#[test]
fn terminal_without_console_socket_is_refused_when_detached() {
    let mut b = Bundle::new(&["/bin/true"]);
    b.config["process"]["terminal"] = json!(true);
    let err = stderr(&b.create("notty", &[]));
    assert!(
        err.contains("cannot allocate tty if berth will detach without setting console socket"),
        "{err}"
    );
}

#[test]
fn readonly_root() {
    let mut b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "touch /x 2>&1 || true; touch /tmp/y 2>&1 || true",
    ]);
    b.config["root"]["readonly"] = json!(true);
    let out = stdout(&b.run_container("ro"));
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
}

#[test]
fn own_session_keyring_unless_no_new_keyring() {
    let mut b = Bundle::new(&["/bin/cat", "/proc/keys"]);
    b.config["linux"]["maskedPaths"] = json!([]);
    let out = ok(&b.run_container("keyring-own"));
    assert!(out.contains("keyring   _ses.keyring-own:"), "{out}");
    let path = b.path().to_str().unwrap().to_string();
    let out = ok(&b.run(&[
        "run",
        "--no-new-keyring",
        "--bundle",
        &path,
        "keyring-shared",
    ]));
    assert!(!out.contains("_ses.keyring-shared"), "{out}");
}

#[test]
fn joins_a_user_namespace_by_path_with_new_pid_and_mount() {
    // Joining a user namespace takes the intermediate spawn path: join, then
    // unshare the new namespaces as the joined user namespace's root.
    let mut peer = Bundle::new(&["/bin/sleep", "100"]);
    peer.with_user_namespace(0);
    peer.save();
    let path = peer.path().to_str().unwrap().to_string();
    ok(&peer.run(&["run", "-d", "--bundle", &path, "userpeer"]));
    let pid = peer.state("userpeer")["pid"].as_i64().unwrap();
    let want = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();

    let mut b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "readlink /proc/self/ns/user; echo $$; cat /proc/1/comm; :",
    ]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
    let out = b.run_container("userjoin");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(want.to_str().unwrap()),
        "{text}{}",
        stderr(&out)
    );
    assert_eq!(lines[1], "1", "not pid 1 of a new pid namespace: {text}");
    assert_eq!(lines[2], "sh");
}

#[test]
fn devices_are_bind_mounted_in_a_user_namespace() {
    let mut b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "stat -c '%t:%T' /dev/null /dev/fuse; echo x > /dev/null && echo writable",
    ]);
    b.with_user_namespace(100000);
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    let out = b.run_container("userdev");
    assert_eq!(stdout(&out), "1:3\na:e5\nwritable\n", "{}", stderr(&out));
}

#[test]
fn tmpcopyup_starts_tmpfs_with_the_directory_contents() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "cat /etc/passwd | head -1; stat -c %a /etc/group; grep -c tmpfs /proc/self/mountinfo; touch /etc/new && echo writable"]);
    std::fs::set_permissions(
        b.rootfs().join("etc/group"),
        std::os::unix::fs::PermissionsExt::from_mode(0o604),
    )
    .unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "size=1m"]}));
    b.config["root"]["readonly"] = json!(true);
    let out = b.run_container("copyup");
    let text = stdout(&out);
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(
        l.first().copied(),
        Some("root:x:0:0:root:/root:/bin/sh"),
        "{text}{}",
        stderr(&out)
    );
    assert_eq!(l[1], "604");
    assert_eq!(
        l.last().copied(),
        Some("writable"),
        "the copy is a writable tmpfs over a read-only root"
    );
    assert!(
        !b.rootfs().join("etc/new").exists(),
        "writes reached the image"
    );
}

#[test]
fn oom_score_adj_in_a_user_namespace() {
    let mut b = Bundle::new(&["/bin/cat", "/proc/self/oom_score_adj"]);
    b.with_user_namespace(100000);
    b.config["process"]["oomScoreAdj"] = json!(100);
    let out = b.run_container("oomuserns");
    assert_eq!(stdout(&out), "100\n", "{}", stderr(&out));
}

#[test]
fn cwd_is_created_after_mounts_and_not_in_the_image() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "pwd"]);
    b.config["process"]["cwd"] = json!("/scratch/work");
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    let out = b.run_container("cwdtmpfs");
    assert_eq!(stdout(&out), "/scratch/work\n", "{}", stderr(&out));
    assert!(
        !b.rootfs().join("scratch/work").exists(),
        "cwd was created in the image under the mount"
    );
}

#[test]
fn readonly_paths_stay_executable() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "touch /bin/x 2>&1; echo ran"]);
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/bin"));
    let out = stdout(&b.run_container("robin"));
    assert!(
        out.contains("Read-only file system") && out.ends_with("ran\n"),
        "{out}"
    );
}
#[test]
fn failing_prestart_hook_still_runs_poststop() {
    let mut b = Bundle::new(&["/bin/true"]);
    let log = b.path().join("poststop.log");
    b.config["hooks"] = json!({
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", log.display())]}]
    });
    assert!(!b.create("poststopfail", &[]).status.success());
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).expect("poststop did not run"))
            .unwrap();
    assert_eq!(st["id"], "poststopfail");
    assert_eq!(st["status"], "stopped");
}

#[test]
fn the_callers_blocked_signals_are_not_passed_on() {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    let mut b = Bundle::new(&["grep", "SigBlk", "/proc/self/status"]);
    // The mask is per thread and inherited by what this thread spawns.
    let seen = std::thread::spawn(move || {
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGHUP);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
        let run = ok(&b.run_container("sigblk-run"));
        b.config["process"]["args"] = json!(["sleep", "30"]);
        b.save();
        let id = "sigblk-exec";
        ok(&b.create(id, &[]));
        ok(&b.run(&["start", id]));
        let exec = ok(&b.run(&["exec", id, "grep", "SigBlk", "/proc/self/status"]));
        ok(&b.run(&["delete", "--force", id]));
        (run, exec)
    })
    .join()
    .unwrap();
    assert_eq!(
        status_field(&seen.0, "SigBlk"),
        "0000000000000000",
        "init: {}",
        seen.0
    );
    assert_eq!(
        status_field(&seen.1, "SigBlk"),
        "0000000000000000",
        "exec: {}",
        seen.1
    );
}
