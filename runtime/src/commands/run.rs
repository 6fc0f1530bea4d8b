//! `berth run`: create and start in one process (no exec fifo); with
//! --detach return once the process runs, otherwise stay its parent, relay
//! signals and terminal, then delete the container (unless --keep) and exit
//! with its code.

use crate::cli::extras::Run;
use crate::hooks::{self, HookState};
use crate::process::launch::{launch, start_run, LaunchMode, LaunchOptions};
use crate::state::Container;

use super::Globals;

pub fn run(g: &Globals, args: &Run) -> anyhow::Result<i32> {
    let o = args.opts();
    let id = &args.create.id;
    if !args.detach {
        nix::sys::prctl::set_child_subreaper(true)?;
    }
    let launched = launch(&LaunchOptions {
        root: &g.root,
        id,
        bundle: &o.bundle,
        mode: LaunchMode::Run {
            detach: args.detach,
        },
        pid_file: o.pid_file.as_deref(),
        console_socket: o.console_socket.as_deref(),
        no_pivot: o.no_pivot,
        preserve_fds: o.preserve_fds,
        no_new_keyring: o.no_new_keyring,
        systemd_cgroup: g.systemd_cgroup,
        block_signals: !args.detach,
    })?;
    if let Err(e) = start_run(&launched) {
        if let Ok(c) = Container::load_locked(&g.root, id) {
            let _ = super::delete::kill_and_wait(&c);
            let _ = super::delete::destroy(c);
        }
        return Err(e.into());
    }
    if let Some(list) = launched
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        let s = &launched.container.state;
        let st = HookState {
            oci_version: &s.oci_version,
            id,
            status: "running",
            pid: Some(s.pid),
            bundle: &s.bundle,
            annotations: Some(&s.annotations),
        };
        hooks::run_all_warn("poststart", list, &st);
    }
    if args.detach {
        return Ok(0);
    }
    let crate::process::launch::Launched {
        pid,
        pidfd,
        console,
        ..
    } = launched;
    let code = crate::process::foreground::wait(pid, &pidfd, console)?;
    if !args.keep {
        match Container::load_locked(&g.root, id) {
            Ok(c) => super::delete::destroy(c)?,
            // Someone deleted it meanwhile: nothing left to clean up.
            Err(crate::state::StateError::NotExist) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(code)
}
