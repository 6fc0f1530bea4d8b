//! The standalone monitor against a real runtime (berth, or `RUNTIME=`
//! runc/crun), as root, with busybox bundles: each test asserts on what
//! the container did, seen through the log, the attach socket and the
//! exit files.

mod common;

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn no_pid_namespace(cfg: &mut Value) {
    let ns = cfg["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "pid");
}

#[test]
fn container_outlives_its_sigkilled_caller_and_logs_grow() {
    let env = Env::new(
        "caller",
        "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done",
        |_| {},
    );
    let mut caller = env
        .shim_cmd(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The monitor exists (it writes shim.pid before `create`): kill the
    // caller while the container is still being made.
    wait_for("shim.pid", || env.state().join("shim.pid").exists());
    caller.kill().unwrap();
    caller.wait().unwrap();

    wait_for("the container running", || {
        env.status().as_deref() == Some("running")
    });
    env.wait_log("stdout", "out 3");
    let before = env.log_text().len();
    wait_for("the log to grow", || env.log_text().len() > before + 200);
    let recs = records(&env.log_text());
    for r in &recs {
        let want = if r.stream == "stdout" { "out " } else { "err " };
        assert!(r.content.starts_with(want) && r.tag == "F", "{r:?}");
    }
    assert!(recs
        .iter()
        .any(|r| r.stream == "stderr" && r.content == "err 3"));
    // Records of one stream come in order: times do not go backwards.
    let times: Vec<&str> = recs.iter().map(|r| r.time.as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // A second process attaches and sees live output, numbers past what
    // the log held when it connected.
    let logged = recs.len() as u32 / 2;
    let mut client = env.attach(Stdio::null());
    let live = lines_of(client.stdout.take().unwrap());
    expect_match(&live, "a live counter line", |l| {
        l.strip_prefix("out ")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > logged)
    });

    env.kill("KILL");
    let (code, json) = env.wait_exit();
    assert_eq!(code, "137");
    assert_eq!(json["signal"], 9);
    let (st, err) = wait_child(client);
    assert!(st.success(), "{err}");
}

#[test]
fn attach_streams_output_and_feeds_stdin_from_the_first_writer() {
    let env = Env::new(
        "attach",
        "echo ready; while read l; do echo \"got $l\"; echo \"err $l\" >&2; done; echo stdin-closed; exit 3",
        |_| {},
    );
    env.start(&["--stdin"]);
    env.wait_log("stdout", "ready");
    // A watcher (its stdin is empty: it never becomes the writer).
    let mut watcher = env.attach(Stdio::null());
    let watch = lines_of(watcher.stdout.take().unwrap());
    let mut writer = env.attach(Stdio::piped());
    let got = lines_of(writer.stdout.take().unwrap());
    let mut input = writer.stdin.take().unwrap();
    input.write_all(b"hello\n").unwrap();
    expect_line(&got, "got hello");
    // The watcher may have connected after "hello": write until it sees
    // a line live (bounded), each echoed to the writer too.
    let mut seen = false;
    for i in 0..100 {
        input.write_all(format!("w{i}\n").as_bytes()).unwrap();
        expect_line(&got, &format!("got w{i}"));
        while let Ok(l) = watch.recv_timeout(Duration::from_millis(100)) {
            seen |= l.starts_with("got ");
        }
        if seen {
            break;
        }
    }
    assert!(seen, "the watcher saw no live output");
    input.write_all(b"again\n").unwrap();
    expect_line(&got, "got again");
    expect_line(&watch, "got again");
    env.wait_log("stderr", "err again");
    // The writer's EOF is the container's.
    drop(input);
    expect_line(&got, "stdin-closed");
    expect_line(&watch, "stdin-closed");
    let (code, json) = env.wait_exit();
    assert_eq!(code, "3");
    assert_eq!(json["signal"], Value::Null);
    // The clients leave when the monitor closes them.
    let (st, err) = wait_child(writer);
    assert!(st.success(), "{err}");
    // stderr reached the writer tagged as stderr, not on its stdout.
    assert!(err.contains("err hello"), "{err:?}");
    let (st, _) = wait_child(watcher);
    assert!(st.success());
}

#[test]
fn term_is_recorded_as_143_with_the_finish_time() {
    // Without a pid namespace the init is an ordinary process that TERM
    // kills (an init of a pid namespace ignores it).
    let env = Env::new("term", "echo up; exec sleep 1000", no_pid_namespace);
    env.start(&[]);
    env.wait_log("stdout", "up");
    env.kill("TERM");
    let (code, json) = env.wait_exit();
    assert_eq!(code, "143");
    assert_eq!(json["signal"], 15);
    assert_eq!(json["exit_code"], 143);
    assert_eq!(json["oom_killed"], false);
    let at = json["finished_at"].as_str().unwrap();
    assert!(at.len() == 30 && at.ends_with('Z'), "{at}");
    // shim.pid goes with the monitor; the sockets too.
    wait_for("the monitor to end", || {
        !env.state().join("shim.pid").exists()
    });
    assert!(!env.state().join("attach").exists());
    assert_eq!(env.status().as_deref(), Some("stopped"));
}

#[test]
fn a_plain_exit_code_is_recorded_in_both_files() {
    let env = Env::new("code", "echo bye; exit 3", |_| {});
    let exit_file = env.dir.join("custom-exit");
    env.start(&["--exit-file", exit_file.to_str().unwrap()]);
    wait_for("the exit file", || exit_file.exists());
    assert_eq!(fs::read_to_string(&exit_file).unwrap(), "3");
    let json: Value =
        serde_json::from_slice(&fs::read(env.state().join("exit.json")).unwrap()).unwrap();
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["signal"], Value::Null);
    env.wait_log("stdout", "bye");
}

#[test]
fn partial_lines_are_marked_p_and_long_lines_split() {
    let env = Env::new(
        "partial",
        "echo first; head -c 20000 /dev/zero | tr '\\0' a; echo; printf 'no newline'",
        |_| {},
    );
    env.start(&[]);
    env.wait_exit();
    let recs: Vec<(String, String)> = records(&env.log_text())
        .into_iter()
        .filter(|r| r.stream == "stdout")
        .map(|r| (r.tag, r.content))
        .collect();
    let a = |n| "a".repeat(n);
    assert_eq!(
        recs,
        [
            ("F".to_string(), "first".to_string()),
            ("P".to_string(), a(16384)),
            ("F".to_string(), a(20000 - 16384)),
            ("P".to_string(), "no newline".to_string()),
        ]
    );
}

#[test]
fn rotation_keeps_at_most_n_files_and_loses_no_line() {
    let env = Env::new("rotate", "seq 1 400", |_| {});
    env.start(&["--log-size-max", "2000", "--log-max-files", "3"]);
    env.wait_exit();
    let log = env.log();
    let name = |n: u32| {
        let mut s = log.clone().into_os_string();
        s.push(format!(".{n}"));
        std::path::PathBuf::from(s)
    };
    assert!(!name(3).exists(), "more than 3 files kept");
    let mut nums = Vec::new();
    for p in [name(2), name(1), log.clone()] {
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            text.len() <= 2000,
            "{} is {} bytes",
            p.display(),
            text.len()
        );
        for r in records(&text) {
            assert_eq!(r.tag, "F");
            nums.push(r.content.parse::<u32>().unwrap());
        }
    }
    assert_eq!(*nums.last().unwrap(), 400);
    assert!(nums.len() > 100, "{nums:?}");
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "a line lost at a rotation: {nums:?}"
    );
}

#[test]
fn ctl_reopen_follows_an_external_logrotate_and_resize_needs_a_tty() {
    let env = Env::new(
        "reopen",
        "i=0; while true; do echo n $i; i=$((i+1)); sleep 0.1; done",
        |_| {},
    );
    env.start(&[]);
    env.wait_log("stdout", "n 2");
    let moved = env.dir.join("moved.log");
    fs::rename(env.log(), &moved).unwrap();
    let out = env.ctl(&["reopen"]);
    assert!(out.status.success(), "{out:?}");
    wait_for("a new log file", || !records(&env.log_text()).is_empty());
    let old_last = records(&fs::read_to_string(&moved).unwrap())
        .last()
        .unwrap()
        .content
        .clone();
    let new_first = records(&env.log_text())[0].content.clone();
    let n = |s: &str| s[2..].parse::<u32>().unwrap();
    assert_eq!(n(&new_first), n(&old_last) + 1, "a line lost at reopen");

    let out = env.ctl(&["resize", "30", "100"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no terminal"), "{err}");
    let out = env.ctl(&["bogus"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
    env.kill("KILL");
    env.wait_exit();
}

#[test]
fn terminal_gives_a_tty_and_resize_reaches_stty() {
    let env = Env::new(
        "tty",
        "test -t 0 && test -t 1 && echo is-a-tty; while true; do stty size 2>/dev/null; sleep 0.1; done",
        |c| c["process"]["terminal"] = json!(true),
    );
    env.start(&["--terminal"]);
    // A pty turns "\n" into "\r\n".
    env.wait_log("stdout", "is-a-tty\r");
    let out = env.ctl(&["resize", "30", "100"]);
    assert!(out.status.success(), "{out:?}");
    env.wait_log("stdout", "30 100\r");
    let out = env.ctl(&["resize", "41", "132"]);
    assert!(out.status.success(), "{out:?}");
    env.wait_log("stdout", "41 132\r");
    env.kill("KILL");
    let (code, _) = env.wait_exit();
    assert_eq!(code, "137");
}

#[test]
fn terminal_stdin_comes_from_the_attach_writer() {
    let env = Env::new("ttyin", "read l; echo \"tty got $l\"", |c| {
        c["process"]["terminal"] = json!(true)
    });
    env.start(&["--terminal", "--stdin"]);
    let mut client = env.attach(Stdio::piped());
    let got = lines_of(client.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let mut input = client.stdin.take().unwrap();
    input.write_all(b"ping\n").unwrap();
    expect_line(&got, "tty got ping");
    let (code, _) = env.wait_exit();
    assert_eq!(code, "0");
    drop(input);
    let (st, err) = wait_child(client);
    assert!(st.success(), "{err}");
}

#[test]
fn an_oom_kill_is_recorded() {
    let env = Env::new("oom", "echo start; head -c 200m /dev/zero | tail", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 8 * 1024 * 1024});
    });
    env.start(&[]);
    let (code, json) = env.wait_exit();
    assert_eq!(json["oom_killed"], true, "{json}");
    assert_eq!(code, "137");
}

#[test]
fn no_oom_is_recorded_for_a_container_that_stays_under_its_limit() {
    let env = Env::new("nooom", "head -c 1m /dev/zero | tail; exit 0", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
    });
    env.start(&[]);
    let (code, json) = env.wait_exit();
    assert_eq!(code, "0");
    assert_eq!(json["oom_killed"], false, "{json}");
}

#[test]
fn bad_input_fails_in_one_line_and_leaves_nothing() {
    let env = Env::new("bad", "exit 0", |_| {});
    let one_line_failure = |out: std::process::Output| {
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
        assert!(out.stdout.is_empty());
        err
    };

    // A missing bundle: the state dir is not even made.
    let err = one_line_failure(run_bounded(env.shim_cmd_for(&env.dir.join("nope"), &[])));
    assert!(
        err.contains("--bundle") && err.contains("No such file"),
        "{err}"
    );
    assert!(!env.state().exists());

    // A broken config.json names the file.
    let cfg = env.bundle().join("config.json");
    let good = fs::read(&cfg).unwrap();
    fs::write(&cfg, b"{ broken").unwrap();
    let err = one_line_failure(run_bounded(env.shim_cmd(&[])));
    assert!(err.contains("config.json"), "{err}");
    assert!(!env.state().exists());

    // The runtime refuses (a process that does not exist): its error is
    // passed on, the container deleted, the state dir left as it was.
    let mut v: Value = serde_json::from_slice(&good).unwrap();
    v["process"]["args"] = json!(["/no/such/binary"]);
    fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    fs::create_dir_all(env.state()).unwrap();
    let err = one_line_failure(run_bounded(env.shim_cmd(&[])));
    assert!(err.contains(&env.id), "{err}");
    let left: Vec<_> = fs::read_dir(env.state()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(env.status(), None, "the container was left in the runtime");

    // A second monitor on a live state dir is refused.
    fs::write(&cfg, &good).unwrap();
    fs::write(env.state().join("shim.pid"), "1").unwrap();
    let err = one_line_failure(run_bounded(env.shim_cmd(&[])));
    assert!(err.contains("already holds a monitor"), "{err}");
}

#[test]
fn delete_after_exit_removes_the_container() {
    let env = Env::new("rm", "echo done", |_| {});
    env.start(&["--rm"]);
    let (code, _) = env.wait_exit();
    assert_eq!(code, "0");
    assert_eq!(env.status(), None);
    let list = env.rt(&["list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&env.id));
}

#[test]
fn pid_files_hold_the_container_and_the_monitor() {
    let env = Env::new("pids", "exec sleep 1000", |_| {});
    let shim_pid = env.dir.join("shim-copy.pid");
    let ctr_pid = env.dir.join("ctr.pid");
    let pid = env.start(&[
        "--shim-pid-file",
        shim_pid.to_str().unwrap(),
        "--container-pid-file",
        ctr_pid.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read_to_string(&ctr_pid).unwrap().trim(),
        pid.to_string()
    );
    let mon = fs::read_to_string(&shim_pid).unwrap();
    assert_eq!(
        mon,
        fs::read_to_string(env.state().join("shim.pid")).unwrap()
    );
    // The monitor is the container's parent (a subreaper), in its own session.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    assert_eq!(ppid, mon.trim());
    env.kill("KILL");
    env.wait_exit();
}

#[test]
fn a_client_that_never_reads_does_not_block_the_container() {
    let env = Env::new("slow", "sleep 1; seq 1 300000; exit 4", |_| {});
    env.start(&[]);
    // Connected before the output starts, and never read from.
    let _stuck = berth_shim::monitor::attach::connect_to(&env.state().join("attach")).unwrap();
    let (code, _) = env.wait_exit();
    assert_eq!(code, "4");
    let recs = records(&env.log_text());
    assert_eq!(recs.len(), 300000);
    assert_eq!(recs.last().unwrap().content, "300000");
    let shim_log = fs::read_to_string(env.state().join("shim.log")).unwrap();
    assert!(shim_log.contains("too slow: disconnected"), "{shim_log:?}");
}

#[test]
fn sigterm_to_the_monitor_is_passed_to_the_container() {
    let env = Env::new("fwd", "echo up; exec sleep 1000", no_pid_namespace);
    env.start(&[]);
    env.wait_log("stdout", "up");
    let shim: i32 = fs::read_to_string(env.state().join("shim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, json) = env.wait_exit();
    assert_eq!(code, "143");
    assert_eq!(json["signal"], 15);
}

#[test]
fn a_reused_state_dir_shows_no_stale_exit() {
    let env = Env::new("reuse", "exit 3", |_| {});
    env.start(&["--rm"]);
    assert_eq!(env.wait_exit().0, "3");
    wait_for("the first monitor to end", || {
        !env.state().join("shim.pid").exists()
    });
    let cfg = env.bundle().join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    v["process"]["args"] = json!(["sh", "-c", "sleep 1; exit 5"]);
    fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    env.start(&["--rm"]);
    assert!(
        !env.state().join("exit").exists() && !env.state().join("exit.json").exists(),
        "the first container's exit is still there"
    );
    assert_eq!(env.wait_exit().0, "5");
}
