//! linux.seccomp on real containers: each action, argument filters, compat
//! ABIs, the real default profile of containers-common, and the notify
//! listener answered by a tiny agent. Every test asserts what the process
//! in the container saw.

mod common;

use std::os::unix::net::UnixListener;

use berth::sys::seccomp::{notif_recv, notif_send, Answer};
use common::*;
use serde_json::{json, Value};

const DEFAULT_PROFILE: &str = "/usr/share/containers/seccomp.json";

fn with_profile(args: &[&str], profile: Value) -> Bundle {
    let mut b = Bundle::new(args);
    b.config["linux"]["seccomp"] = profile;
    b
}

fn errno_on(names: &[&str], errno: i32) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]})
}

fn action_on(names: &[&str], action: &str) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": names, "action": action}]})
}

const MKDIR: &[&str] = &["mkdir", "mkdirat"];

#[test]
fn blocked_syscall_returns_the_configured_errno() {
    let b = with_profile(
        &[
            "sh",
            "-c",
            "mkdir /tmp/x; echo rc=$?; ls -d /tmp/x; grep Seccomp: /proc/self/status",
        ],
        errno_on(MKDIR, libc::EROFS),
    );
    let out = b.run_container("errno");
    let text = ok(&out);
    assert!(text.contains("rc=1"), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!b.rootfs().join("tmp/x").exists());
}

#[test]
fn killing_actions_end_the_process_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        let b = with_profile(
            &["sh", "-c", "mkdir /tmp/x; echo rc=$?"],
            action_on(MKDIR, action),
        );
        let text = ok(&b.run_container("kill"));
        assert!(text.contains("rc=159"), "{action}: {text}");
        assert!(!b.rootfs().join("tmp/x").exists(), "{action}");
    }
}

#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    let b = with_profile(
        &["sh", "-c", "mkdir /tmp/x; echo rc=$?"],
        action_on(MKDIR, "SCMP_ACT_TRACE"),
    );
    let out = b.run_container("trace");
    assert!(ok(&out).contains("rc=1"));
    assert!(
        stderr(&out).contains("Function not implemented"),
        "{}",
        stderr(&out)
    );
}

/// Every record in the kernel log as (sequence number, message), read from
/// /dev/kmsg: sequence numbers keep counting once the ring buffer is full,
/// where a count of dmesg lines stops moving.
fn kmsg() -> Vec<(u64, String)> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (head, msg) = rec.split_once(';').unwrap_or(("", ""));
                let seq = head
                    .split(',')
                    .nth(1)
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                out.push((seq, msg.trim_end().to_string()));
            }
            // EPIPE: a record was overwritten while reading; go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    out
}

#[test]
fn log_action_lets_the_syscall_run_and_logs_it() {
    let b = with_profile(
        &["sh", "-c", "mkdir /tmp/logged; echo rc=$?"],
        action_on(MKDIR, "SCMP_ACT_LOG"),
    );
    let before = kmsg().last().map_or(0, |r| r.0);
    assert!(ok(&b.run_container("log")).contains("rc=0"));
    assert!(b.rootfs().join("tmp/logged").is_dir());
    let new: Vec<String> = kmsg()
        .into_iter()
        .filter(|r| r.0 > before)
        .map(|r| r.1)
        .collect();
    let logged = new
        .iter()
        .any(|l| l.contains("comm=\"mkdir\"") && l.contains("code=0x7ffc0000"));
    assert!(
        logged,
        "no audit line for the logged mkdir in:\n{}",
        new.join("\n")
    );
}

#[test]
fn argument_filters_match_exactly() {
    // kill(pid, sig) from the shell, which is pid 1 and ignores signals it
    // has no handler for: only the filter can make these fail.
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
         "args": [{"index": 1, "value": 0xff, "valueTwo": 10, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EDOM,
         "args": [{"index": 1, "value": 20, "op": "SCMP_CMP_GE"},
                  {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
         "args": [{"index": 1, "value": 12, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 13, "op": "SCMP_CMP_EQ"}]}
    ]});
    let script = "for s in 10 11 12 13 14 21; do kill -$s 1 2>/dev/null; echo \"$s=$?\"; done; \
                  kill -21 0; echo g0=$?";
    let b = with_profile(&["sh", "-c", script], profile);
    let text = ok(&b.run_container("args"));
    for want in ["10=1", "11=0", "12=1", "13=1", "14=0", "21=1", "g0=0"] {
        assert!(text.lines().any(|l| l == want), "{want} in {text}");
    }
}

/// A static ELF that makes syscall `nr` with zero arguments, as an i386
/// (int 0x80) or x86_64 (syscall) program, and exits with the errno it got
/// (0 on success).
fn probe_elf(i386: bool, nr: u32) -> Vec<u8> {
    let mut code = vec![0xb8];
    code.extend_from_slice(&nr.to_le_bytes()); // mov eax, nr
    if i386 {
        code.extend_from_slice(&[0x31, 0xdb, 0x31, 0xc9, 0x31, 0xd2]); // xor ebx, ecx, edx
        code.extend_from_slice(&[0xcd, 0x80]); // int 0x80
        code.extend_from_slice(&[0xf7, 0xd8, 0x89, 0xc3]); // neg eax; mov ebx, eax
        code.extend_from_slice(&[0xb8, 1, 0, 0, 0, 0xcd, 0x80]); // exit
    } else {
        code.extend_from_slice(&[0x31, 0xff, 0x31, 0xf6, 0x31, 0xd2]); // xor edi, esi, edx
        code.extend_from_slice(&[0x0f, 0x05]); // syscall
        code.extend_from_slice(&[0xf7, 0xd8, 0x89, 0xc7]); // neg eax; mov edi, eax
        code.extend_from_slice(&[0xb8, 60, 0, 0, 0, 0x0f, 0x05]); // exit
    }
    let base: u64 = 0x0040_0000;
    let (ehsize, phsize) = if i386 { (52u64, 32u64) } else { (64, 56) };
    let size = ehsize + phsize + code.len() as u64;
    let class = if i386 { 1 } else { 2 };
    let mut elf = vec![
        0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let word = if i386 { 4 } else { 8 };
    let fields: Vec<(u64, usize)> = if i386 {
        vec![
            (2, 2),
            (3, 2),
            (1, 4),
            (base + ehsize + phsize, 4),
            (ehsize, 4),
            (0, 4),
            (0, 4),
            (ehsize, 2),
            (phsize, 2),
            (1, 2),
            (0, 2),
            (0, 2),
            (0, 2),
            // PT_LOAD of the whole file, R+X
            (1, 4),
            (0, 4),
            (base, 4),
            (base, 4),
            (size, 4),
            (size, 4),
            (5, 4),
            (0x1000, 4),
        ]
    } else {
        vec![
            (2, 2),
            (62, 2),
            (1, 4),
            (base + ehsize + phsize, word),
            (ehsize, word),
            (0, word),
            (0, 4),
            (ehsize, 2),
            (phsize, 2),
            (1, 2),
            (0, 2),
            (0, 2),
            (0, 2),
            (1, 4),
            (5, 4),
            (0, word),
            (base, word),
            (base, word),
            (size, word),
            (size, word),
            (0x1000, word),
        ]
    };
    for (v, w) in fields {
        elf.extend_from_slice(&v.to_le_bytes()[..w]);
    }
    elf.extend_from_slice(&code);
    elf
}

fn install_probe(b: &Bundle, name: &str, i386: bool, nr: u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = b.rootfs().join("bin").join(name);
    std::fs::write(&path, probe_elf(i386, nr)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// i386 `mkdir` is 39; with ebx = NULL it fails EFAULT when it runs.
const I386_MKDIR: u32 = 39;

#[test]
fn i386_syscalls_are_filtered_when_x86_is_listed_and_killed_when_not() {
    let b = Bundle::new(&["/bin/probe32"]);
    install_probe(&b, "probe32", true, I386_MKDIR);
    assert_eq!(
        b.run_container("noseccomp").status.code(),
        Some(libc::EFAULT),
        "the probe itself works (host runs i386 binaries)"
    );
    for (arches, want) in [
        (json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]), libc::EXDEV),
        (json!(["SCMP_ARCH_X86_64"]), 128 + libc::SIGSYS),
    ] {
        let mut b = Bundle::new(&["sh", "-c", "/bin/probe32; echo rc=$?"]);
        install_probe(&b, "probe32", true, I386_MKDIR);
        let mut p = errno_on(MKDIR, libc::EXDEV);
        p["architectures"] = arches.clone();
        b.config["linux"]["seccomp"] = p;
        let text = ok(&b.run_container("compat"));
        assert!(text.contains(&format!("rc={want}")), "{arches}: {text}");
    }
}

/// containers-common's profile (Moby format) reduced to an OCI profile for
/// an x86_64 host and the given capabilities, as podman does.
fn default_profile(caps: &[String]) -> Value {
    let raw: Value = serde_json::from_slice(&std::fs::read(DEFAULT_PROFILE).unwrap_or_else(|e| {
        panic!("{DEFAULT_PROFILE} (package golang-github-containers-common): {e}")
    }))
    .unwrap();
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut syscalls = Vec::new();
    for s in raw["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&s["includes"], &s["excludes"]);
        let arch_ok =
            strs(&inc["arches"]).is_empty() || strs(&inc["arches"]).iter().any(|a| a == "amd64");
        let caps_ok = strs(&inc["caps"]).iter().all(|c| caps.contains(c));
        let not_excluded = !strs(&exc["arches"]).iter().any(|a| a == "amd64")
            && !strs(&exc["caps"]).iter().any(|c| caps.contains(c));
        if arch_ok && caps_ok && not_excluded {
            let mut e = json!({"names": s["names"], "action": s["action"]});
            for k in ["args", "errnoRet"] {
                if !s[k].is_null() {
                    e[k] = s[k].clone();
                }
            }
            syscalls.push(e);
        }
    }
    json!({"defaultAction": raw["defaultAction"], "defaultErrnoRet": raw["defaultErrnoRet"],
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
           "syscalls": syscalls})
}

#[test]
fn containers_common_default_profile_runs_a_shell_and_blocks_what_it_lists() {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo up; for p in add_key64 vmsplice64 add_key32 mkdir32; do /bin/$p; echo $p=$?; done",
    ]);
    // add_key is not in the profile: its default errno (ENOSYS) on both
    // ABIs, where the kernel alone faults on the NULL type; vmsplice is
    // listed with EPERM (the kernel alone splices nothing and returns 0);
    // i386 mkdir is allowed, runs, and faults on its NULL path.
    install_probe(&b, "add_key64", false, 248);
    install_probe(&b, "vmsplice64", false, 278);
    install_probe(&b, "add_key32", true, 286);
    install_probe(&b, "mkdir32", true, I386_MKDIR);
    let plain = ok(&b.run_container("plain"));
    for want in ["add_key64=14", "vmsplice64=0", "add_key32=14", "mkdir32=14"] {
        assert!(
            plain.lines().any(|l| l == want),
            "without seccomp {want}: {plain}"
        );
    }
    let caps: Vec<String> =
        serde_json::from_value(b.config["process"]["capabilities"]["bounding"].clone()).unwrap();
    b.config["linux"]["seccomp"] = default_profile(&caps);
    let text = ok(&b.run_container("default"));
    assert!(text.contains("up"), "{text}");
    for want in ["add_key64=38", "vmsplice64=1", "add_key32=38", "mkdir32=14"] {
        assert!(
            text.lines().any(|l| l == want),
            "with the profile {want}: {text}"
        );
    }
}

#[test]
fn no_new_privs_filter_is_installed_late_and_still_applies() {
    let mut b = with_profile(
        &[
            "sh",
            "-c",
            "mkdir /tmp/x; echo rc=$?; grep NoNewPrivs /proc/self/status",
        ],
        errno_on(MKDIR, libc::EROFS),
    );
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    std::fs::set_permissions(
        b.rootfs().join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let out = b.run_container("nnp");
    let text = ok(&out);
    assert!(
        text.contains("rc=1") && text.contains("NoNewPrivs:\t1"),
        "{text}"
    );
    assert!(stderr(&out).contains("Read-only file system"));
}

#[test]
fn notify_hands_the_listener_to_an_agent_that_answers() {
    let b0 = Bundle::new(&["true"]);
    let sock = b0.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let (msg, fd) = berth::seccomp::listener::accept(&listener).unwrap();
        let mut answered = 0;
        // First mkdir: refused with EMLINK; then let everything run.
        // Poll first: once the filter has no tasks left its fd reports
        // POLLHUP, while RECV itself blocks forever on older kernels (6.1).
        loop {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            use std::os::fd::AsFd;
            let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            poll(&mut pfd, PollTimeout::NONE).unwrap();
            let ready = pfd[0].revents().unwrap_or(PollFlags::empty());
            if !ready.contains(PollFlags::POLLIN) {
                break;
            }
            let Ok(n) = notif_recv(&fd) else { break };
            let answer = if answered == 0 {
                Answer::Error(libc::EMLINK)
            } else {
                Answer::Continue
            };
            notif_send(&fd, n.id, answer).unwrap();
            answered += 1;
        }
        (msg, answered)
    });
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "mkdir /tmp/first; echo first=$?; mkdir /tmp/second; echo second=$?",
    ]);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock, "listenerMetadata": "hello agent",
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}]});
    let out = b.run_container("notify");
    let text = ok(&out);
    assert!(
        text.contains("first=1") && text.contains("second=0"),
        "{text}"
    );
    assert!(stderr(&out).contains("Too many links"), "{}", stderr(&out));
    assert!(!b.rootfs().join("tmp/first").exists());
    assert!(b.rootfs().join("tmp/second").is_dir());
    let (msg, answered) = agent.join().unwrap();
    assert_eq!(answered, 2);
    assert_eq!(msg.fds, vec!["seccompFd".to_string()]);
    assert_eq!(msg.metadata, "hello agent");
    assert!(msg.pid > 0);
    assert_eq!(msg.state["id"], "notify");
    assert_eq!(msg.state["status"], "creating");
    assert_eq!(msg.state["pid"], msg.pid);
}

#[test]
fn bad_profiles_fail_create_naming_the_entry_and_leave_nothing() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FROB"}]}),
            "linux.seccomp.syscalls[0].action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"],
                   "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.listenerPath",
        ),
    ];
    for (profile, field) in cases {
        let b = with_profile(&["true"], profile);
        let out = b.create("bad", &[]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(field), "{field}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        let left = std::fs::read_dir(&b.root)
            .map(|d| d.flatten().filter(|e| e.file_name() != "@seccomp").count())
            .unwrap_or(0);
        assert_eq!(left, 0, "state left behind for {field}");
    }
}

#[test]
fn apparmor_profile_without_apparmor_fails_create_and_selinux_labels_are_ignored() {
    let mut b = Bundle::new(&["true"]);
    b.config["process"]["apparmorProfile"] = json!("docker-default");
    let out = b.create("aa", &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("process.apparmorProfile"),
        "{}",
        stderr(&out)
    );
    assert!(!b.root.join("aa").exists());

    let mut b = Bundle::new(&["sh", "-c", "echo labelled"]);
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    assert!(ok(&b.run_container("se")).contains("labelled"));
}
