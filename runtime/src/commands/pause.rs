//! `berth pause` / `berth resume`: freeze or thaw every process of the
//! container (v1 freezer.state, v2 cgroup.freeze), with runc's rules: only
//! a created or running container can be paused, only a paused one resumed.

use anyhow::bail;

use crate::cli::extras::Pause;
use crate::state::{Container, Status};

use super::Globals;

pub fn pause(g: &Globals, args: &Pause) -> anyhow::Result<i32> {
    let c = Container::load_locked(&g.root, &args.id)?;
    match c.status() {
        Status::Created | Status::Running => {}
        _ => bail!("container not running"),
    }
    let paths = &c.state.berth.cgroup_paths;
    if !crate::cgroups::freeze(paths)? {
        crate::cgroups::thaw(paths);
        bail!("pause: the container's cgroup has no freezer, or it did not freeze within 2s");
    }
    Ok(0)
}

pub fn resume(g: &Globals, args: &Pause) -> anyhow::Result<i32> {
    let c = Container::load_locked(&g.root, &args.id)?;
    if c.status() != Status::Paused {
        bail!("container not paused");
    }
    crate::cgroups::thaw(&c.state.berth.cgroup_paths);
    Ok(0)
}
