//! `berth kill`: signal the init (through a pidfd, so a recycled pid is
//! never hit) or, with --all, every process in the container's cgroup.

use anyhow::bail;
use nix::unistd::Pid;

use crate::cli::oci::Kill;
use crate::state::{Container, Status};

use super::Globals;

pub fn run(g: &Globals, args: &Kill) -> anyhow::Result<i32> {
    let sig = crate::signals::parse(&args.signal)?;
    let c = Container::load_locked(&g.root, &args.id)?;
    let status = c.status();
    if args.all {
        if status == Status::Stopped
            && crate::cgroups::pids(&c.state.berth.cgroup_paths)
                .unwrap_or_default()
                .is_empty()
        {
            bail!("container not running");
        }
        signal_all(&c, sig)?;
        thaw_for_kill(&c, sig);
        return Ok(0);
    }
    if status == Status::Stopped {
        bail!("container not running");
    }
    let pidfd = match crate::sys::clone::pidfd_open(Pid::from_raw(c.state.pid)) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => bail!("container not running"),
        Err(e) => return Err(e.into()),
    };
    // The pidfd pins the process; re-check it is still our init before use.
    if !crate::state::status::is_alive(c.state.pid, c.state.berth.init_start_time) {
        bail!("container not running");
    }
    crate::sys::clone::pidfd_send_signal(&pidfd, sig).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => anyhow::anyhow!("no such process"),
        _ => e.into(),
    })?;
    thaw_for_kill(&c, sig);
    Ok(0)
}

/// A frozen task only dies once thawed (v1 freezer), so SIGKILL of a paused
/// container thaws it afterwards, as runc does; other signals leave it
/// paused and pending.
fn thaw_for_kill(c: &Container, sig: i32) {
    if sig == libc::SIGKILL && crate::cgroups::is_frozen(&c.state.berth.cgroup_paths) {
        crate::cgroups::thaw(&c.state.berth.cgroup_paths);
    }
}

/// Signals every process in the cgroup. SIGKILL goes through cgroup.kill
/// where the kernel has it; otherwise the cgroup is frozen while its pids
/// are read and signalled, so none can be recycled by another process or
/// escape by forking in between (as runc does), then thawed unless it was
/// paused before.
pub fn signal_all(c: &Container, sig: i32) -> anyhow::Result<()> {
    let paths = &c.state.berth.cgroup_paths;
    if sig == libc::SIGKILL {
        if let Some(result) = crate::cgroups::kill_tree(paths) {
            return Ok(result?);
        }
    }
    let was_frozen = crate::cgroups::is_frozen(paths);
    let froze = !was_frozen && crate::cgroups::freeze(paths)?;
    let mut result = Ok(());
    for pid in crate::cgroups::pids(paths)? {
        match nix::sys::signal::kill(
            Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig).ok(),
        ) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    if froze {
        crate::cgroups::thaw(paths);
    }
    result
}
