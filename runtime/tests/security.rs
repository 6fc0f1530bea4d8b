//! Escape classes berth must not allow, each asserted from inside the
//! container or on the host after the fact.

mod common;

use common::{ok, stderr, stdout, Bundle};
use serde_json::json;

#[test]
fn container_sees_only_stdio_and_preserved_fds() {
    let b = Bundle::new(&["/bin/ls", "/proc/self/fd"]);
    b.save();
    // Extra descriptors open in the caller, not close-on-exec.
    let leak1 = std::fs::File::open("/etc/hostname").unwrap();
    let leak2 = std::fs::File::open("/").unwrap();
    for f in [&leak1, &leak2] {
        nix::fcntl::fcntl(
            f,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
    }
    let out = ok(&b.run_container("fds"));
    // ls itself opens one directory fd (3) while listing.
    let fds: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fds, vec!["0", "1", "2", "3"], "leaked fds: {out}");
    drop((leak1, leak2));
}

#[test]
fn preserve_fds_passes_exactly_that_many() {
    let b = Bundle::new(&["/bin/sh", "-c", "cat <&3 2>/dev/null || echo no-fd-3"]);
    b.save();
    let payload = b.path().join("payload");
    std::fs::write(&payload, "through-fd-3\n").unwrap();
    let run = |preserve: &str, id: &str| {
        let script = format!(
            "exec 3<{} 4<{}; exec {} --root {} run --preserve-fds {preserve} --bundle {} {id}",
            payload.display(),
            payload.display(),
            common::berth_bin(),
            b.root.display(),
            b.path().display()
        );
        stdout(&common::capture(
            std::process::Command::new("/bin/sh").arg("-c").arg(script),
        ))
    };
    assert_eq!(run("1", "pfd1"), "through-fd-3\n");
    assert_eq!(run("0", "pfd0"), "no-fd-3\n");
}

#[test]
fn symlinked_mount_target_stays_in_rootfs() {
    let mut b = Bundle::new(&["/bin/true"]);
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("canary"), "host").unwrap();
    // Absolute, relative and chained links that all point at the host dir
    // when followed outside the rootfs.
    std::os::unix::fs::symlink(host.path(), b.rootfs().join("abs")).unwrap();
    let rel = format!("../../../../../../../..{}", host.path().display());
    std::os::unix::fs::symlink(&rel, b.rootfs().join("tmp/rel")).unwrap();
    std::os::unix::fs::symlink("/abs", b.rootfs().join("chain")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for dest in ["/abs", "/tmp/rel/sub", "/chain/deeper"] {
        mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    }
    b.config["process"]["args"] = json!([
        "/bin/sh",
        "-c",
        "touch /abs/x /tmp/rel/sub/y /chain/deeper/z && echo ok"
    ]);
    let out = b.run_container("symlinks");
    assert_eq!(stdout(&out).trim(), "ok", "{}", stderr(&out));
    let entries: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from("canary")],
        "a mount or file reached the host dir"
    );
    // The link's target was created inside the rootfs instead.
    assert!(b
        .rootfs()
        .join(host.path().strip_prefix("/").unwrap())
        .is_dir());
}

#[test]
fn bind_mount_destination_with_dotdot_stays_in_rootfs() {
    let mut b = Bundle::new(&["/bin/true"]);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("data"), "payload").unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/../../../../../../tmp/escaped", "type": "bind", "source": src.path(), "options": ["rbind", "ro"]
    }));
    b.config["process"]["args"] = json!(["/bin/cat", "/tmp/escaped/data"]);
    let out = b.run_container("dotdot");
    assert_eq!(stdout(&out), "payload", "{}", stderr(&out));
    assert!(!std::path::Path::new("/tmp/escaped").exists());
}

#[test]
fn masked_and_readonly_paths_hold() {
    let b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "cat /proc/kcore | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sysrq-trigger && echo writable; umount /proc/sys 2>/dev/null && echo unmounted; echo done",
    ]);
    let out = b.run_container("masks");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].trim(), "0", "/proc/kcore readable: {text}");
    assert_eq!(lines[1].trim(), "0", "/sys/firmware not masked: {text}");
    assert!(
        !text.contains("writable") && !text.contains("unmounted"),
        "{text}"
    );
    assert!(text.ends_with("done\n"));
}

#[test]
fn only_configured_devices_exist_and_mknod_is_denied() {
    let b = Bundle::new(&[
        "/bin/sh",
        "-c",
        "ls /dev; mknod /tmp/sda b 8 0 && echo mknod-worked; stat -c '%F %t:%T %a' /dev/null",
    ]);
    let out = b.run_container("devs");
    let text = stdout(&out);
    assert!(!text.contains("mknod-worked"), "{text}");
    let listed: Vec<&str> = text.lines().take_while(|l| !l.contains(' ')).collect();
    for dev in &listed {
        assert!(
            [
                "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
                "stdout", "tty", "urandom", "zero", "core"
            ]
            .contains(dev),
            "unexpected /dev entry {dev}"
        );
    }
    assert!(text.contains("character special file 1:3 666"), "{text}");
}

#[test]
fn private_namespaces_hide_host() {
    let b = Bundle::new(&["/bin/sh", "-c", "cat /proc/1/comm; hostname; ls /sys/class/net; cat /proc/self/mountinfo | wc -l; ls /proc | grep '^[0-9]' | sort -n | tail -1"]);
    let out = ok(&b.run_container("iso"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "sh", "pid 1 is not the container's init: {out}");
    let highest: u32 = lines[4].trim().parse().unwrap();
    assert!(
        highest < 100,
        "container sees host pids (up to {highest}): {out}"
    );
    assert_eq!(lines[1], "berth");
    assert_eq!(
        lines[2], "lo",
        "network interfaces of the host are visible: {out}"
    );
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(host_mounts
        .lines()
        .all(|l| !l.contains("/sys/fs/cgroup/berth-never")));
    let n: usize = lines[3].trim().parse().unwrap();
    assert!(
        n < 60,
        "container mount table looks like the host's ({n} entries)"
    );
}

#[test]
fn cwd_cannot_leave_rootfs() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "pwd; ls"]);
    b.config["process"]["cwd"] = json!("/../../../../../");
    let out = ok(&b.run_container("cwd"));
    assert!(out.starts_with("/\n"), "{out}");
    assert!(out.contains("bin") && !out.contains("vmlinuz"));
}

#[test]
fn cwd_or_program_through_a_leaked_fd_cannot_reach_the_host() {
    // CVE-2024-21626 class: the launcher's own fds (state dir, sockets) must
    // not lend the container a host path, through cwd or through argv[0].
    for fd in 3..=8 {
        let mut b = Bundle::new(&["/bin/sh", "-c", "ls ../../..; pwd"]);
        b.config["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}"));
        let out = b.create(&format!("cwdfd{fd}"), &[]);
        assert!(
            !out.status.success(),
            "create accepted cwd /proc/self/fd/{fd}"
        );
        assert!(stderr(&out).contains("process.cwd"), "{}", stderr(&out));
        let mut b = Bundle::new(&[]);
        b.config["process"]["args"] = json!([
            format!("/proc/self/fd/{fd}/../../../bin/sh"),
            "-c",
            "echo escaped"
        ]);
        b.save();
        let path = b.path().to_str().unwrap().to_string();
        let created = b.run(&["create", "--bundle", &path, "argfd"]);
        if created.status.success() {
            let started = b.run(&["start", "argfd"]);
            assert!(
                !started.status.success(),
                "a program was exec'd through fd {fd}"
            );
        }
    }
}

#[test]
fn container_starts_with_default_signal_dispositions() {
    let b = Bundle::new(&["/bin/grep", "SigIgn", "/proc/self/status"]);
    let out = ok(&b.run_container("sigs"));
    assert_eq!(out.trim(), "SigIgn:\t0000000000000000", "{out}");
}

#[test]
fn berth_binary_is_unreachable_through_proc_exe_during_create() {
    // CVE-2019-5736 class: the blocked init is a fork of berth, so its
    // /proc/<pid>/exe is the berth binary. A process sharing the container's
    // PID namespace (root, default capabilities) must not be able to open it.
    let a = Bundle::new(&["/bin/sleep", "100"]);
    ok(&a.create("exe-target", &[]));
    let pid = a.state("exe-target")["pid"].as_i64().unwrap();
    assert!(std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .to_string_lossy()
        .contains("berth"));
    let mut b = Bundle::new(&["/bin/sh", "-c", "cat /proc/1/exe > /dev/null 2>&1 && echo OPENED; readlink /proc/1/exe || echo no-readlink; for f in /proc/1/fd/*; do readlink $f && echo FD-LINK; done 2>/dev/null; echo end"]);
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{pid}/ns/pid"));
        }
    }
    let out = b.run_container("exe-attacker");
    let text = stdout(&out);
    assert!(
        !text.contains("OPENED"),
        "the berth binary was opened from inside: {text}{}",
        stderr(&out)
    );
    assert!(text.contains("no-readlink"), "{text}");
    assert!(
        !text.contains("FD-LINK"),
        "fds of the init are reachable: {text}"
    );
    assert!(text.ends_with("end\n"), "{text}");
}

#[test]
fn mount_targets_swapped_during_setup_never_leave_the_rootfs() {
    // CVE-2021-30465 class: while berth resolves and creates mount targets,
    // a racer keeps exchanging a real directory with a symlink to a host
    // directory. Whatever berth resolves at any instant, nothing may ever be
    // created (or mounted) in the host directory.
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut b = Bundle::new(&["/bin/true"]);
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(b.rootfs().join("mnt/a")).unwrap();
    std::os::unix::fs::symlink(host.path(), b.rootfs().join("mnt/b")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for i in 0..8 {
        mounts.push(json!({"destination": format!("/mnt/a/d{i}/sub"), "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
    }
    b.save();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let mnt = b.rootfs().join("mnt");
    let racer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let dir = std::fs::File::open(&mnt).unwrap();
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    &dir,
                    "a",
                    &dir,
                    "b",
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let path = b.path().to_str().unwrap().to_string();
    for i in 0..25 {
        // Runs may fail when a target moves under them; escaping is what matters.
        let _ = b.run(&["run", "--bundle", &path, &format!("race{i}")]);
        let _ = b.run(&["delete", "--force", &format!("race{i}")]);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    assert!(swaps > 1000, "the racer barely ran ({swaps} swaps)");
    let entries: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "berth created {entries:?} in the host directory"
    );
}

#[test]
fn container_init_leads_its_own_session_so_kill_0_stays_inside() {
    // pid, pgid and session of the init as it sees them: a shared process
    // group would show 0 (ids from outside its PID namespace), and
    // kill(0, sig) inside would reach the caller.
    let b = Bundle::new(&[
        "sh",
        "-c",
        "cut -d' ' -f1,5,6 /proc/1/stat; kill -TTIN 0; echo alive",
    ]);
    std::os::unix::fs::symlink("busybox", b.rootfs().join("bin/cut")).unwrap();
    let text = ok(&b.run_container("session"));
    assert!(text.lines().any(|l| l == "1 1 1"), "{text}");
    assert!(text.contains("alive"));
}
