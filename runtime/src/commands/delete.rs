//! `berth delete`: kill what is left (with --force, or a created container),
//! remove the cgroups, run poststop hooks, remove the state.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cli::oci::Delete;
use crate::hooks::{self, HookState};
use crate::state::{self, Container, StateError, Status};

use super::Globals;

pub fn run(g: &Globals, args: &Delete) -> anyhow::Result<i32> {
    let c = match Container::load_locked(&g.root, &args.id) {
        Ok(c) => c,
        Err(StateError::NotExist) => {
            // An aborted create (a killed launcher) may have left a directory
            // without state; remove it either way, as runc does, so the id is
            // free again. Only --force makes a missing container a success.
            let dir = g.root.join(&args.id);
            if state::validate_id(&args.id).is_ok() && dir.is_dir() {
                remove_half_made(&dir)?;
                state::remove_dir(&dir)?;
                return Ok(0);
            }
            if args.force {
                return Ok(0);
            }
            return Err(StateError::NotExist.into());
        }
        Err(e) => return Err(e.into()),
    };
    match c.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&c)?,
        _ if args.force => kill_and_wait(&c)?,
        s => bail!(
            "cannot delete container {} that is not stopped: {s}",
            args.id
        ),
    }
    destroy(c)?;
    Ok(0)
}

/// Kills what a half-made container's cgroups still hold and removes them.
fn remove_half_made(dir: &std::path::Path) -> anyhow::Result<()> {
    let Ok(bytes) = std::fs::read(dir.join(state::CGROUP_PATHS)) else {
        return Ok(());
    };
    let paths: Vec<std::path::PathBuf> = serde_json::from_slice(&bytes).unwrap_or_default();
    crate::cgroups::thaw(&paths);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = crate::cgroups::pids(&paths).unwrap_or_default();
        if pids.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("processes of the half-made container survive SIGKILL: {pids:?}");
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    crate::cgroups::destroy_paths(&paths)?;
    Ok(())
}

/// SIGKILLs the init (and the rest of the cgroup) and waits until it is gone.
pub fn kill_and_wait(c: &Container) -> anyhow::Result<()> {
    if crate::cgroups::is_frozen(&c.state.berth.cgroup_paths) {
        crate::cgroups::thaw(&c.state.berth.cgroup_paths);
    }
    let _ = super::kill::signal_all(c, libc::SIGKILL);
    if let Ok(fd) = crate::sys::clone::pidfd_open(nix::unistd::Pid::from_raw(c.state.pid)) {
        if state::status::is_alive(c.state.pid, c.state.berth.init_start_time) {
            let _ = crate::sys::clone::pidfd_send_signal(&fd, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state::status::is_alive(c.state.pid, c.state.berth.init_start_time) {
        if Instant::now() > deadline {
            bail!("container init {} did not die after SIGKILL", c.state.pid);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Removes a stopped container: cgroups, poststop hooks, state directory.
pub fn destroy(c: Container) -> anyhow::Result<()> {
    crate::cgroups::destroy_paths(&c.state.berth.cgroup_paths)?;
    if !c.state.berth.poststop.is_empty() {
        let st = HookState {
            oci_version: &c.state.oci_version,
            id: &c.state.id,
            status: "stopped",
            pid: None,
            bundle: &c.state.bundle,
            annotations: Some(&c.state.annotations),
        };
        hooks::run_all_warn("poststop", &c.state.berth.poststop, &st);
    }
    c.remove()?;
    Ok(())
}
