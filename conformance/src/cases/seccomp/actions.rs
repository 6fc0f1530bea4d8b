//! Every seccomp action, seen by a probe: ERRNO (with errnoRet, and EPERM
//! without), the three KILLs and TRAP (SIGSYS), TRACE with no tracer
//! (ENOSYS), LOG and ALLOW (the call runs); the default action with and
//! without defaultErrnoRet under a profile that allows only what the
//! checker needs; runc's ENOSYS for syscalls newer than the profile; the
//! filter flags; and a filter installed without noNewPrivileges.

use nix::errno::Errno;
use serde_json::{json, Value};

use super::{allow_but, arg0, install, GETPGID, GETPGRP, GETPPID, GETSID};
use crate::cases::Case;
use crate::probe::{Outcome, Probe};

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker("seccomp/action-errno-and-errno-ret", errno),
        Case::checker("seccomp/action-kill-kill-thread-kill-process", kill),
        Case::checker("seccomp/action-trap", trap),
        Case::checker("seccomp/action-trace-without-tracer", trace),
        Case::checker(
            "seccomp/default-errno-ret-with-allow-and-log",
            default_errno_ret,
        ),
        Case::checker(
            "seccomp/default-errno-without-errno-ret-is-eperm",
            default_eperm,
        ),
        Case::checker("seccomp/enosys-above-highest-named-syscall", enosys_above),
        Case::checker("seccomp/flags-log-spec-allow-tsync", flags),
        Case::checker("seccomp/without-no-new-privileges", without_nnp),
    ]
}

/// What the checker (static Rust std on glibc, its probes' fork and exec,
/// and the mount, umount2 and mknod its isolation checks expect EPERM from)
/// and the runtimes' last steps before exec need, whitespace-separated.
/// Names this kernel or libseccomp does not know are skipped by the runtime.
const CHECKER_NEEDS: &str = "
    access arch_prctl brk capget chdir clock_gettime clock_nanosleep clone clone3
    close dup dup2 dup3 epoll_create1 epoll_ctl epoll_pwait epoll_wait execve
    execveat exit exit_group faccessat faccessat2 fchdir fcntl fstat fstatfs futex
    getcwd getdents64 getegid geteuid getgid getgroups getpid getrandom getrlimit
    gettid getuid ioctl lseek lstat madvise mkdir mkdirat mknod mknodat mmap mount
    mprotect mremap munmap nanosleep newfstatat open openat pipe2 poll ppoll prctl
    pread64 prlimit64 read readlink readlinkat rseq rt_sigaction rt_sigprocmask
    rt_sigreturn sched_getaffinity sched_yield set_robust_list set_tid_address
    sigaltstack stat statfs statx tgkill umask umount2 uname unlink unlinkat vfork
    wait4 waitid write writev
";

fn errno(config: &mut Value) {
    let rules = json!([
        // An unknown name next to a known one is skipped, not an error.
        {"names": ["getppid", "berth_conformance_no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::ENOTBLK as i32},
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO"}
    ]);
    install(
        config,
        allow_but(rules),
        &[
            Probe::syscall(
                "getppid errnoRet",
                GETPPID,
                [0; 6],
                Outcome::errno(Errno::ENOTBLK),
            ),
            Probe::syscall(
                "getpgid no errnoRet",
                GETPGID,
                [0; 6],
                Outcome::errno(Errno::EPERM),
            ),
            Probe::syscall("getsid no rule", GETSID, [0; 6], Outcome::Ok),
        ],
    );
}

fn kill(config: &mut Value) {
    let rules = json!([
        {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
        {"names": ["getpgid"], "action": "SCMP_ACT_KILL_THREAD"},
        {"names": ["getsid"], "action": "SCMP_ACT_KILL_PROCESS"}
    ]);
    install(
        config,
        allow_but(rules),
        &[
            Probe::syscall("getppid KILL", GETPPID, [0; 6], Outcome::SIGSYS),
            Probe::syscall("getpgid KILL_THREAD", GETPGID, [0; 6], Outcome::SIGSYS),
            Probe::syscall("getsid KILL_PROCESS", GETSID, [0; 6], Outcome::SIGSYS),
            Probe::syscall("getpgrp no rule", GETPGRP, [0; 6], Outcome::Ok),
        ],
    );
}

fn trap(config: &mut Value) {
    let rules = json!([{"names": ["getppid"], "action": "SCMP_ACT_TRAP"}]);
    install(
        config,
        allow_but(rules),
        &[
            Probe::syscall("getppid TRAP", GETPPID, [0; 6], Outcome::SIGSYS),
            Probe::syscall("getpgrp no rule", GETPGRP, [0; 6], Outcome::Ok),
        ],
    );
}

/// seccomp(2): with no tracer attached, SECCOMP_RET_TRACE fails the call
/// with ENOSYS without running it.
fn trace(config: &mut Value) {
    let rules = json!([{"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 1}]);
    install(
        config,
        allow_but(rules),
        &[
            Probe::syscall(
                "getppid TRACE",
                GETPPID,
                [0; 6],
                Outcome::errno(Errno::ENOSYS),
            ),
            Probe::syscall("getpgrp no rule", GETPGRP, [0; 6], Outcome::Ok),
        ],
    );
}

/// A default-deny profile: only [`CHECKER_NEEDS`] (ALLOW) and getppid (LOG)
/// run; everything else gets `default_errno` (EPERM when `None`).
fn deny_but_needs(default_errno: Option<Errno>) -> Value {
    let mut profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": CHECKER_NEEDS.split_whitespace().collect::<Vec<_>>(), "action": "SCMP_ACT_ALLOW"},
            {"names": ["getppid"], "action": "SCMP_ACT_LOG"}
        ]
    });
    if let Some(e) = default_errno {
        profile["defaultErrnoRet"] = json!(e as i32);
    }
    profile
}

fn default_errno_ret(config: &mut Value) {
    install(
        config,
        deny_but_needs(Some(Errno::EXDEV)),
        &[
            Probe::syscall("getppid LOG", GETPPID, [0; 6], Outcome::Ok),
            Probe::syscall("getpid ALLOW", nix::libc::SYS_getpid, [0; 6], Outcome::Ok),
            Probe::syscall(
                "getsid default",
                GETSID,
                [0; 6],
                Outcome::errno(Errno::EXDEV),
            ),
            Probe::syscall(
                "getpgrp default",
                GETPGRP,
                [0; 6],
                Outcome::errno(Errno::EXDEV),
            ),
        ],
    );
}

fn default_eperm(config: &mut Value) {
    install(
        config,
        deny_but_needs(None),
        &[
            Probe::syscall(
                "getsid default",
                GETSID,
                [0; 6],
                Outcome::errno(Errno::EPERM),
            ),
            Probe::syscall("getppid LOG", GETPPID, [0; 6], Outcome::Ok),
        ],
    );
}

/// runc (and berth after it) answer syscalls numbered above every one the
/// profile names with ENOSYS rather than the default action, so that a
/// program probing for a syscall newer than the profile falls back instead
/// of failing hard. 1023 is above every x86_64 syscall.
fn enosys_above(config: &mut Value) {
    install(
        config,
        deny_but_needs(Some(Errno::EXDEV)),
        &[
            Probe::syscall("nr 1023", 1023, [0; 6], Outcome::errno(Errno::ENOSYS)),
            Probe::syscall(
                "getsid below highest",
                GETSID,
                [0; 6],
                Outcome::errno(Errno::EXDEV),
            ),
        ],
    );
}

/// The flags have no effect a process can see from inside (LOG writes to
/// the audit log, SPEC_ALLOW only matters where the kernel's store-bypass
/// mitigation is seccomp-driven, TSYNC with one thread): they must be
/// accepted and the filter must work.
fn flags(config: &mut Value) {
    let mut profile = allow_but(json!([
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::EXDEV as i32}
    ]));
    profile["flags"] = json!([
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_TSYNC"
    ]);
    install(
        config,
        profile,
        &[Probe::syscall(
            "getppid ERRNO",
            GETPPID,
            arg0(1),
            Outcome::errno(Errno::EXDEV),
        )],
    );
}

/// Without no_new_privs a filter needs CAP_SYS_ADMIN, which the process
/// does not keep: the runtime must install it while it still has the
/// capability, and must not set no_new_privs to get around that (the
/// checker compares NoNewPrivs with the config in every case). The filter
/// is then in place for the runtime's last steps too, and runc's init calls
/// getppid there, so this case probes getpgid.
fn without_nnp(config: &mut Value) {
    config["process"]["noNewPrivileges"] = json!(false);
    let rules = json!([{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::EXDEV as i32}]);
    install(
        config,
        allow_but(rules),
        &[
            Probe::syscall(
                "getpgid ERRNO",
                GETPGID,
                [0; 6],
                Outcome::errno(Errno::EXDEV),
            ),
            Probe::syscall("getpgrp no rule", GETPGRP, [0; 6], Outcome::Ok),
        ],
    );
}
