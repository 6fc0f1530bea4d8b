//! `berth exec` with real containers: namespaces and cgroups shared with the
//! init, exit codes, runc's flags, `--process` + `--detach` + `--pid-file`
//! as containerd calls it, the inherited seccomp profile, fd hygiene, the
//! terminal through a console socket, and the stopped/paused refusals.

mod common;

use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::{ok, stderr, stdout, Bundle};
use serde_json::json;

fn running(b: &Bundle, id: &str) -> i64 {
    ok(&b.create(id, &[]));
    ok(&b.run(&["start", id]));
    b.state(id)["pid"].as_i64().unwrap()
}

fn ns_links(pid: &str) -> Vec<String> {
    ["mnt", "uts", "ipc", "net", "pid", "cgroup", "user"]
        .iter()
        .map(|n| {
            std::fs::read_link(format!("/proc/{pid}/ns/{n}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn exec_joins_every_namespace_and_cgroup_of_the_init() {
    let b = Bundle::new(&["sleep", "100"]);
    let init = running(&b, "ns");
    let pid_file = b.path().join("exec.pid");
    ok(&b.run(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "ns",
        "sleep",
        "50",
    ]));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(ns_links(&pid), ns_links(&init.to_string()));
    let cg = |p: &str| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cg(&pid), cg(&init.to_string()));
    // Inside, the exec'd process sees the container's pid namespace: the
    // init is pid 1 and it is a new pid there.
    let out = ok(&b.run(&["exec", "ns", "sh", "-c", "cat /proc/1/comm; echo $$"]));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sleep"));
    assert_ne!(lines.next(), Some("1"));
}

#[test]
fn exit_codes_propagate() {
    let b = Bundle::new(&["sleep", "100"]);
    running(&b, "rc");
    assert_eq!(
        b.run(&["exec", "rc", "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    assert_eq!(
        b.run(&["exec", "rc", "sh", "-c", "kill -9 $$"])
            .status
            .code(),
        Some(137)
    );
    let missing = b.run(&["exec", "rc", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("\"nope\": executable file not found"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn user_env_cwd_and_caps_flags() {
    let b = Bundle::new(&["sleep", "100"]);
    running(&b, "fl");
    let out = ok(&b.run(&[
        "exec",
        "-u",
        "1000:1000",
        "-g",
        "44",
        "-e",
        "FOO=bar",
        "-e",
        "FOO=baz",
        "--cwd",
        "/tmp",
        "fl",
        "sh",
        "-c",
        "id -u; id -g; id -G; echo $FOO; pwd",
    ]));
    assert_eq!(out, "1000\n1000\n1000 44\nbaz\n/tmp\n");
    // CAP_SYS_TIME (25) is not in berth spec's default set; --cap adds it.
    let eff = |o: &str| {
        let line = o
            .lines()
            .find(|l| l.starts_with("CapEff:"))
            .unwrap()
            .to_string();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let without = ok(&b.run(&["exec", "fl", "cat", "/proc/self/status"]));
    let with = ok(&b.run(&[
        "exec",
        "--cap",
        "CAP_SYS_TIME",
        "fl",
        "cat",
        "/proc/self/status",
    ]));
    assert_eq!(eff(&without) & (1 << 25), 0);
    assert_ne!(eff(&with) & (1 << 25), 0);
    let nnp = ok(&b.run(&["exec", "--no-new-privs", "fl", "cat", "/proc/self/status"]));
    assert!(
        nnp.lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')),
        "{nnp}"
    );
}

#[test]
fn process_json_detach_and_pid_file_as_containerd_calls_it() {
    let b = Bundle::new(&["sleep", "100"]);
    running(&b, "cd");
    let proc_file = b.path().join("process.json");
    let marker = b.rootfs().join("tmp/exec-ran");
    std::fs::write(
        &proc_file,
        serde_json::to_vec(&json!({
            "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "args": ["sh", "-c", "echo $GREETING > /tmp/exec-ran; sleep 30"],
            "env": ["PATH=/bin", "GREETING=hello"]
        }))
        .unwrap(),
    )
    .unwrap();
    let pid_file = b.path().join("p.pid");
    let t0 = Instant::now();
    ok(&b.run(&[
        "exec",
        "--process",
        proc_file.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "cd",
    ]));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "--detach returns while the process runs"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !marker.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "hello\n");
    std::fs::write(&proc_file, br#"{"args": ["true"], "cwd": 3}"#).unwrap();
    let bad = b.run(&["exec", "--process", proc_file.to_str().unwrap(), "cd"]);
    assert!(stderr(&bad).contains("cwd"), "{}", stderr(&bad));
}

#[test]
fn the_containers_seccomp_profile_applies_to_exec() {
    let mut b = Bundle::new(&["sleep", "100"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    running(&b, "sc");
    let out = b.run(&["exec", "sc", "mkdir", "/tmp/x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("not permitted") || stdout(&out).contains("not permitted"),
        "{}",
        stderr(&out)
    );
    assert!(!b.rootfs().join("tmp/x").exists());
}

#[test]
fn only_stdio_and_preserved_fds_reach_the_process() {
    let b = Bundle::new(&["sleep", "100"]);
    running(&b, "fd");
    let out = ok(&b.run(&["exec", "fd", "ls", "/proc/self/fd"]));
    // ls's own directory fd is 3.
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2", "3"],
        "{out}"
    );
}

#[test]
fn terminal_through_a_console_socket() {
    let b = Bundle::new(&["sleep", "100"]);
    running(&b, "tty");
    let sock = b.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cmd = b.berth();
    cmd.args([
        "exec",
        "-t",
        "-d",
        "--console-socket",
        sock.to_str().unwrap(),
        "tty",
        "sh",
        "-c",
        "tty; readlink /proc/1/fd/0; echo console-ok; sleep 1",
    ]);
    let child = std::thread::spawn(move || common::capture(&mut cmd));
    let (conn, _) = listener.accept().unwrap();
    let master = berth::console::recv_fd(&conn).unwrap();
    ok(&child.join().unwrap());
    let text = common::read_pty_until(master, "console-ok");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(
        text.contains("/dev/null"),
        "the init's stdio is untouched: {text}"
    );
    assert!(text.contains("console-ok"), "{text}");
}

#[test]
fn stopped_and_paused_containers_refuse_exec_as_runc() {
    let b = Bundle::new(&["sleep", "100"]);
    running(&b, "pz");
    ok(&b.run(&["pause", "pz"]));
    let out = b.run(&["exec", "pz", "true"]);
    assert!(
        stderr(&out)
            .contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "{}",
        stderr(&out)
    );
    let pid_file = b.path().join("ip.pid");
    ok(&b.run(&[
        "exec",
        "--ignore-paused",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "pz",
        "sleep",
        "20",
    ]));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let init = b.state("pz")["pid"].as_i64().unwrap();
    let cg = |p: &str| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(
        cg(&pid),
        cg(&init.to_string()),
        "joined the frozen cgroups after exec"
    );
    ok(&b.run(&["resume", "pz"]));
    ok(&b.run(&["kill", "pz", "KILL"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state("pz")["status"] != "stopped" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = b.run(&["exec", "pz", "true"]);
    assert!(
        stderr(&out).contains("cannot exec in a stopped container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_enters_the_containers_user_namespace() {
    let mut b = Bundle::new(&["sleep", "100"]);
    b.with_user_namespace(300000);
    running(&b, "us");
    let pid_file = b.path().join("u.pid");
    ok(&b.run(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "us",
        "sleep",
        "20",
    ]));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().nth(1) == Some("300000"), "{uid}");
    assert_eq!(ok(&b.run(&["exec", "us", "id", "-u"])), "0\n");
}

#[test]
fn berth_binary_is_unreachable_through_proc_exe_during_exec() {
    // CVE-2019-5736 class, exec path: until it execs, the exec'd process is
    // a fork of berth inside the container's PID namespace. A process in
    // the container that watches for it must never open its exe.
    let b = Bundle::new(&[
        "sh",
        "-c",
        "while :; do for p in /proc/[0-9]*; do read c < $p/comm; [ \"$c\" = berth ] && { echo seen >> /tmp/seen; wc -c < $p/exe >> /tmp/opened; }; done; done 2>/dev/null",
    ]);
    running(&b, "cve");
    for _ in 0..20 {
        ok(&b.run(&["exec", "cve", "true"]));
    }
    let seen = std::fs::read_to_string(b.rootfs().join("tmp/seen")).unwrap_or_default();
    // What it could open is the program once exec'd (busybox), never berth.
    let berth_size = std::fs::metadata(common::berth_bin())
        .unwrap()
        .len()
        .to_string();
    let opened = std::fs::read_to_string(b.rootfs().join("tmp/opened")).unwrap_or_default();
    assert!(
        !opened.lines().any(|l| l.trim() == berth_size),
        "the berth binary was opened from inside: {opened}"
    );
    eprintln!(
        "the watcher saw a berth process {} times",
        seen.lines().count()
    );
}
