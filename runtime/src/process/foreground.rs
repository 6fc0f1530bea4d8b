//! `run` without --detach: berth stays the init's parent, relays signals to
//! it (signalfd; the mask was blocked before clone so none is lost), relays
//! its own terminal to the container's pty when one was allocated, reaps
//! orphans as a subreaper, and returns the init's exit code (128+N when
//! killed by signal N).

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::sys::clone::pidfd_send_signal;

/// Exit code convention shared with `berth run` and shells.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Restores the terminal mode when dropped.
struct RawMode {
    saved: Option<termios::Termios>,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> RawMode {
        let saved = termios::tcgetattr(fd).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// Waits for the init to exit, relaying signals and the terminal.
pub fn wait(pid: Pid, pidfd: &OwnedFd, console: Option<OwnedFd>) -> std::io::Result<i32> {
    let sfd = SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC)?;
    let stdin = std::io::stdin();
    let _raw = console
        .as_ref()
        .filter(|_| termios::tcgetattr(stdin.as_fd()).is_ok())
        .map(|_| RawMode::enter(stdin.as_fd()));
    if let Some(m) = &console {
        crate::console::copy_winsize(&stdin, m);
    }
    let mut stdin_open = console.is_some();
    let mut master_open = console.is_some();
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    while code.is_none() {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let (true, Some(m)) = (master_open, &console) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            if let Some(info) = sfd.read_signal()? {
                code = on_signal(info.ssi_signo as i32, pid, pidfd, console.as_ref())?;
            }
        }
        let mut idx = 1;
        if let (true, Some(m)) = (master_open, &console) {
            if ready[idx] {
                master_open = copy(m, &mut std::io::stdout(), &mut buf);
            }
            idx += 1;
        }
        if stdin_open && ready.get(idx).copied().unwrap_or(false) {
            if let Some(m) = &console {
                stdin_open = copy_in(&mut buf, m);
            }
        }
    }
    if let (true, Some(m)) = (master_open, &console) {
        drain(m, &mut buf);
    }
    Ok(code.unwrap_or(255))
}

fn on_signal(
    signo: i32,
    pid: Pid,
    pidfd: &OwnedFd,
    console: Option<&OwnedFd>,
) -> std::io::Result<Option<i32>> {
    match Signal::try_from(signo) {
        Ok(Signal::SIGCHLD) => {
            let mut code = None;
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(status) if status.pid() == Some(pid) => code = exit_code(status),
                    Ok(_) => {}
                }
            }
            Ok(code)
        }
        Ok(Signal::SIGWINCH) => {
            if let Some(m) = console {
                crate::console::copy_winsize(&std::io::stdin(), m);
            }
            Ok(None)
        }
        // SIGURG is the Go runtime's preemption signal; never forward it.
        Ok(Signal::SIGURG) => Ok(None),
        _ => {
            let _ = pidfd_send_signal(pidfd, signo);
            Ok(None)
        }
    }
}

/// Copies what the master has; false once it is closed (EIO: slave gone).
fn copy(from: &OwnedFd, to: &mut impl Write, buf: &mut [u8]) -> bool {
    match nix::unistd::read(from, buf) {
        Ok(0) | Err(nix::errno::Errno::EIO) => false,
        Ok(n) => {
            let _ = to.write_all(&buf[..n]);
            let _ = to.flush();
            true
        }
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => true,
        Err(_) => false,
    }
}

fn copy_in(buf: &mut [u8], master: &OwnedFd) -> bool {
    match std::io::stdin().lock().read(buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => nix::unistd::write(master, &buf[..n]).is_ok(),
    }
}

/// After the init exits, output may still sit in the pty buffer.
fn drain(master: &OwnedFd, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(50u16)) {
            Ok(n) if n > 0 => {
                if !copy(master, &mut std::io::stdout(), buf) {
                    return;
                }
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let p = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(p, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }
}
