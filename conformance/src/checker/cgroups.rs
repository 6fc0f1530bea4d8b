//! linux.resources as the kernel shows them: each [`Expect`] the driver put in
//! the config's annotations names a file of this process's own cgroup and the
//! value it must hold, computed by the driver for the host's cgroup version.
//! A second list is compared after the driver ran `update` and sent SIGUSR1
//! (see [`wait_for_update`]).

use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::{read, Check, Observer};
use crate::cgroup::{self, Expect, ANN_CGROUP_EXPECT, ANN_CGROUP_EXPECT_UPDATE, READY_FILE};

/// How long the checker waits for the driver's SIGUSR1.
const UPDATE_WAIT: Duration = Duration::from_secs(15);

pub fn checks(obs: &Observer, out: &mut Vec<Check>) {
    compare(obs, ANN_CGROUP_EXPECT, "", out);
}

/// The expectations after `update`, prefixed `after-update:`.
pub fn after_update_checks(obs: &Observer, out: &mut Vec<Check>) {
    compare(obs, ANN_CGROUP_EXPECT_UPDATE, "after-update:", out);
}

fn compare(obs: &Observer, key: &str, prefix: &str, out: &mut Vec<Check>) {
    let Some(text) = obs.annotation(key) else {
        return;
    };
    let expects: Vec<Expect> = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            out.push(Check::error(format!("{prefix}{key}"), text, e));
            return;
        }
    };
    // Re-read: after an update the mounts are the same but the values differ.
    let mounts = read("/proc/self/mountinfo")
        .map_err(|e| e.to_string())
        .and_then(|t| crate::procfs::parse_mountinfo(&t).map_err(|e| e.to_string()));
    let proc_cgroup = read("/proc/self/cgroup").unwrap_or_default();
    for exp in &expects {
        let name = format!("{prefix}{}", exp.label());
        let wanted: Vec<&str> = exp.files.iter().map(|(_, v)| v.as_str()).collect();
        let dir = match &mounts {
            Ok(m) => cgroup::own_dir(&proc_cgroup, m, &exp.controller),
            Err(e) => {
                out.push(Check::error(name, wanted, e));
                continue;
            }
        };
        let dir = match dir {
            Ok(d) => d,
            Err(e) => {
                out.push(Check::error(name, wanted, e));
                continue;
            }
        };
        let found = exp
            .files
            .iter()
            .find_map(|(file, want)| Some((file, want, read(&format!("{dir}/{file}")).ok()?)));
        match found {
            Some((file, want, content)) => out.push(Check::new(
                format!("{prefix}cgroup[{file}]"),
                cgroup::matches(&content, want, exp.matching),
                want,
                cgroup::squash(&content),
            )),
            None => out.push(Check::error(name, wanted, format!("no such file in {dir}"))),
        }
    }
}

/// Whether the config asks for a second pass after `update`.
pub fn wants_update(obs: &Observer) -> bool {
    obs.annotation(ANN_CGROUP_EXPECT_UPDATE).is_some()
}

/// Blocks SIGUSR1 so it stays pending until [`wait_for_update`] reads it; must
/// run before the ready file tells the driver to send it. A blocked signal
/// reaches the pid-namespace init even without a handler.
pub fn block_usr1() -> nix::Result<SigSet> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    set.thread_block()?;
    Ok(set)
}

/// Creates the ready file, then waits for SIGUSR1. The signalfd is made only
/// now, so the first pass's fd checks do not see it; it still reads a signal
/// that was pending before it existed.
pub fn wait_for_update(set: &SigSet) -> Check {
    let sfd = match SignalFd::with_flags(set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) => return Check::error("cgroup.update-signal", "SIGUSR1", format!("signalfd: {e}")),
    };
    if let Err(e) = std::fs::write(READY_FILE, b"") {
        return Check::error(
            "cgroup.update-signal",
            "SIGUSR1",
            format!("{READY_FILE}: {e}"),
        );
    }
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&sfd),
        PollFlags::POLLIN,
    )];
    let timeout = PollTimeout::try_from(UPDATE_WAIT).unwrap_or(PollTimeout::MAX);
    let got = match poll(&mut fds, timeout) {
        Ok(n) if n > 0 => matches!(sfd.read_signal(), Ok(Some(_))),
        _ => false,
    };
    Check::new(
        "cgroup.update-signal",
        got,
        "SIGUSR1",
        if got { "SIGUSR1" } else { "timed out" },
    )
}
