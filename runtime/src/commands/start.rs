//! `berth start`: release a created container's init through the exec fifo
//! and return once the user process has been exec'd (the fifo's write end is
//! close-on-exec), or report why it could not be.

use std::os::fd::AsFd;

use anyhow::bail;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use crate::cli::oci::Start;
use crate::hooks::{self, HookState};
use crate::state::{Container, Status};

use super::Globals;

pub fn run(g: &Globals, args: &Start) -> anyhow::Result<i32> {
    let mut c = Container::load_locked(&g.root, &args.id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        _ => bail!("cannot start an already running container"),
    }
    let pidfd = crate::sys::clone::pidfd_open(nix::unistd::Pid::from_raw(c.state.pid))?;
    let fifo = nix::fcntl::open(
        &c.fifo_path(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // Opening the fifo released the init; waiting for its exec (and its
    // startContainer hooks) must not hold kill or delete --force off. The
    // fifo's name goes only once the init has written through it: the init
    // may not have reached its open yet (create returns before that), and
    // unlinking now would leave it ENOENT.
    c.unlock();
    let fifo_path = c.fifo_path();
    let mut unlinked = false;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        };
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            match nix::unistd::read(&fifo, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if !unlinked {
                        let _ = std::fs::remove_file(&fifo_path);
                        unlinked = true;
                    }
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        } else if init_gone {
            break;
        }
    }
    if !unlinked {
        let _ = std::fs::remove_file(&fifo_path);
    }
    match got.split_first() {
        Some((b'0', [])) => {}
        Some((b'0', rest)) => bail!("{}", String::from_utf8_lossy(rest)),
        _ => bail!("container init exited before start"),
    }
    let spec = crate::spec::load_bundle(&c.state.bundle).ok();
    if let Some(list) = spec
        .as_ref()
        .and_then(|s| s.hooks().as_ref())
        .and_then(|h| h.poststart().as_ref())
    {
        let st = HookState {
            oci_version: &c.state.oci_version,
            id: &c.state.id,
            status: "running",
            pid: Some(c.state.pid),
            bundle: &c.state.bundle,
            annotations: Some(&c.state.annotations),
        };
        hooks::run_all_warn("poststart", list, &st);
    }
    Ok(0)
}
