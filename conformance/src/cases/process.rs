//! config.md process: args, env, cwd, user (uid, gid, additionalGids, umask),
//! capabilities, noNewPrivileges, rlimits and oomScoreAdj. All are checked by
//! the checker against the config; the cases only pick interesting values.

use serde_json::{json, Value};

use super::{Case, Run};
use crate::config::CHECKER_IN_ROOTFS;
use crate::driver::spec;

pub fn cases() -> Vec<Case> {
    vec![
        Case::checker("process/args", |c| {
            spec::set_args(c, &[CHECKER_IN_ROOTFS, "two words", "--flag=x", "", "ünï"])
        }),
        Case::checker("process/env", env),
        Case::checker("process/cwd", |c| c["process"]["cwd"] = json!("/home/user")),
        Case::checker("process/user-uid-gid-additional-gids", |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 100, 4242]});
        }),
        Case::checker("process/umask", |c| {
            c["process"]["user"]["umask"] = json!(0o027)
        }),
        Case::checker("process/capabilities-root-subset", caps_root),
        Case::checker("process/capabilities-non-root-ambient", caps_non_root),
        Case::checker("process/capabilities-none", caps_none),
        Case::checker(
            "process/capabilities-non-root-without-ambient",
            caps_non_root_no_ambient,
        ),
        Case::checker("process/no-new-privileges-false", |c| {
            c["process"]["noNewPrivileges"] = json!(false)
        }),
        Case::checker("process/rlimits", rlimits),
        Case::checker("process/oom-score-adj", |c| {
            c["process"]["oomScoreAdj"] = json!(423)
        }),
        Case {
            name: "process/terminal-console-socket",
            mutate: |c| c["process"]["terminal"] = json!(true),
            setup: None,
            run: Run::Host(|ctx| ctx.run_checker_on_terminal()),
        },
    ]
}

fn env(config: &mut Value) {
    config["process"]["env"] = json!([
        "PATH=/bin",
        "WITH_SPACES=a b  c",
        "EMPTY=",
        "EQUALS=x=y=z",
        "HOME=/root",
    ]);
}

/// Root with a bounding set of two caps and one more inheritable than
/// effective: exec gives root bounding|inheritable in permitted and effective.
fn caps_root(config: &mut Value) {
    config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_KILL"],
    });
}

/// A non-root user only keeps ambient caps across exec, so this is the case
/// that shows whether ambient (and the inheritable it needs) was applied.
fn caps_non_root(config: &mut Value) {
    config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let set = json!(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_KILL"]);
    config["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set, "inheritable": set,
        "ambient": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
    });
}

/// Every set empty: even root must end up with no capability at all, since
/// exec gives root only what the bounding and inheritable sets hold.
fn caps_none(config: &mut Value) {
    let none = json!([]);
    config["process"]["capabilities"] = json!({
        "bounding": none, "effective": none, "permitted": none, "inheritable": none, "ambient": none,
    });
}

/// A non-root user with caps configured but none inheritable or ambient
/// keeps only the bounding set across exec; a runtime that fills the
/// inheritable or ambient set on its own (CVE-2022-29162) is caught.
fn caps_non_root_no_ambient(config: &mut Value) {
    config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let set = json!(["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"]);
    config["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set,
    });
}

/// Values under this host's hard limits: without CAP_SYS_RESOURCE in the
/// host's bounding set even root cannot raise a hard limit.
fn rlimits(config: &mut Value) {
    config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 1048576},
        {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000},
    ]);
}
