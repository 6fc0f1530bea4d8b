//! Checks on `process`: args, env, cwd, user and groups, umask, capabilities,
//! noNewPrivileges, rlimits and oomScoreAdj.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;

use nix::sys::resource::{getrlimit, Resource};
use nix::sys::stat::{umask, Mode};

use super::{read, Check, Observer};
use crate::caps::{self, CapSets};
use crate::procfs;

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    let p = &obs.spec.process;
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    out.push(Check::eq("process.args", p.args.clone(), args));
    env_checks(obs, out);
    if !p.cwd.is_empty() {
        cwd_checks(&p.cwd, out);
    }
    let ttys = [
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ];
    out.push(Check::eq("process.terminal", [p.terminal; 3], ttys));
    user_checks(obs, out);
    caps_checks(obs, out);
    let nnp = obs.status.get("NoNewPrivs").cloned().unwrap_or_default();
    out.push(Check::eq(
        "process.noNewPrivileges",
        if p.no_new_privileges { "1" } else { "0" }.to_string(),
        nnp,
    ));
    rlimit_checks(obs, out);
    if let Some(adj) = p.oom_score_adj {
        let actual = read("/proc/self/oom_score_adj")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("error: {e}"));
        out.push(Check::eq("process.oomScoreAdj", adj.to_string(), actual));
    }
}

/// A symlink in `cwd` is followed inside the container, so the expected
/// working directory is the path as resolved here; the directory itself is
/// compared by device and inode, which a cwd outside the root cannot match.
fn cwd_checks(cwd: &str, out: &mut Vec<Check>) {
    let got = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|e| format!("error: {e}"));
    out.push(Check::eq("process.cwd", super::resolved(cwd), got));
    let id = |p: &str| {
        std::fs::metadata(p)
            .map(|m| format!("{}:{}", m.dev(), m.ino()))
            .unwrap_or_else(|e| format!("error: {e}"))
    };
    out.push(Check::eq("process.cwd.inode", id(cwd), id(".")));
}

fn env_checks(obs: &Observer, out: &mut Vec<Check>) {
    for entry in &obs.spec.process.env {
        let (key, want) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        let actual = std::env::var_os(key).map(|v| v.to_string_lossy().into_owned());
        out.push(Check::eq(
            format!("process.env[{key}]"),
            Some(want.to_string()),
            actual,
        ));
    }
}

fn user_checks(obs: &Observer, out: &mut Vec<Check>) {
    let u = &obs.spec.process.user;
    out.push(Check::eq(
        "process.user.uid",
        (u.uid, u.uid),
        (obs.ruid, obs.euid),
    ));
    let (gid, egid) = (
        nix::unistd::getgid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    out.push(Check::eq("process.user.gid", (u.gid, u.gid), (gid, egid)));
    // The primary gid may or may not be repeated in the supplementary list
    // depending on the runtime; the spec only asks for the additional ones.
    let want: BTreeSet<u32> = u
        .additional_gids
        .iter()
        .copied()
        .filter(|g| *g != u.gid)
        .collect();
    match nix::unistd::getgroups() {
        Ok(groups) => {
            let got: BTreeSet<u32> = groups
                .iter()
                .map(|g| g.as_raw())
                .filter(|g| *g != u.gid)
                .collect();
            out.push(Check::eq("process.user.additionalGids", want, got));
        }
        Err(e) => out.push(Check::error("process.user.additionalGids", want, e)),
    }
    if let Some(mask) = u.umask {
        // umask(2) can only be read by setting it, so put the old value back.
        let old = umask(Mode::empty());
        umask(old);
        out.push(Check::eq(
            "process.user.umask",
            format!("{mask:04o}"),
            format!("{:04o}", old.bits()),
        ));
    }
}

fn caps_checks(obs: &Observer, out: &mut Vec<Check>) {
    let Some(conf) = &obs.spec.process.capabilities else {
        return;
    };
    let want = match CapSets::from_config(conf) {
        Ok(sets) => sets.after_exec(obs.euid, obs.ruid),
        Err(e) => {
            return out.push(Check::error(
                "process.capabilities",
                "known capability names",
                e,
            ))
        }
    };
    let fields = [
        ("bounding", "CapBnd", want.bounding),
        ("effective", "CapEff", want.effective),
        ("inheritable", "CapInh", want.inheritable),
        ("permitted", "CapPrm", want.permitted),
        ("ambient", "CapAmb", want.ambient),
    ];
    for (set, field, mask) in fields {
        let name = format!("process.capabilities.{set}");
        match procfs::status_cap_mask(&obs.status, field) {
            Ok(got) => out.push(Check::new(
                name,
                got == mask,
                caps::names(mask),
                caps::names(got),
            )),
            Err(e) => out.push(Check::error(name, caps::names(mask), e)),
        }
    }
}

fn rlimit_checks(obs: &Observer, out: &mut Vec<Check>) {
    for r in &obs.spec.process.rlimits {
        let name = format!("process.rlimits[{}]", r.kind);
        let Some(resource) = resource(&r.kind) else {
            out.push(Check::error(name, (r.soft, r.hard), "unknown rlimit type"));
            continue;
        };
        match getrlimit(resource) {
            Ok(got) => out.push(Check::eq(name, (r.soft, r.hard), got)),
            Err(e) => out.push(Check::error(name, (r.soft, r.hard), e)),
        }
    }
}

fn resource(kind: &str) -> Option<Resource> {
    Some(match kind {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}
