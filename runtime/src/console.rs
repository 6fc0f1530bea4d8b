//! Terminals. With process.terminal the init opens a pty inside the
//! container's own devpts (after pivot), binds the slave onto /dev/console,
//! makes it the controlling terminal and stdio, and sends the master over the
//! console socket with SCM_RIGHTS, exactly as runc does (payload: the
//! master's path). Foreground `run` receives it on its own socketpair and
//! relays between its stdio and the master.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::stat::Mode;

use crate::rootfs::paths::{self, Kind};
use crate::sys::{tty, Kernel};

#[derive(Debug, thiserror::Error)]
#[error("console: {op}: {source}")]
pub struct ConsoleError {
    op: &'static str,
    #[source]
    source: io::Error,
}

fn err(op: &'static str) -> impl FnOnce(io::Error) -> ConsoleError {
    move |source| ConsoleError { op, source }
}

/// Inside the container (after pivot): create the pty, wire it up as the
/// controlling terminal and stdio, and hand the master to `socket`.
/// `exec` passes `bind_console: false`: /dev/console stays the init's.
pub fn setup(
    k: &impl Kernel,
    socket: &OwnedFd,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<(), ConsoleError> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open /dev/ptmx")(e.into()))?;
    let n = tty::unlock_pty(&master).map_err(err("unlock pty"))?;
    let slave_path = format!("/dev/pts/{n}");
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open pty slave")(e.into()))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tty::set_winsize(&slave, &ws).map_err(err("set window size"))?;
    }
    if bind_console {
        let root = nix::fcntl::open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err("open /")(e.into()))?;
        let console = paths::ensure(&root, Path::new("/dev/console"), Kind::File)
            .map_err(err("create /dev/console"))?;
        k.mount(
            Some(Path::new(&slave_path)),
            &paths::proc_fd_path(&console),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .map_err(err("bind /dev/console"))?;
    }
    send_fd(socket, b"/dev/ptmx", &master).map_err(err("send pty master"))?;
    drop(master);
    // The caller is already a session leader (it called setsid first thing).
    tty::set_controlling_terminal(&slave).map_err(err("set controlling terminal"))?;
    let dup = |e: nix::Error| err("dup pty onto stdio")(e.into());
    nix::unistd::dup2_stdin(&slave).map_err(dup)?;
    nix::unistd::dup2_stdout(&slave).map_err(dup)?;
    nix::unistd::dup2_stderr(&slave).map_err(dup)?;
    Ok(())
}

/// Sends `fd` with `payload` over a unix socket (SCM_RIGHTS) in one
/// message; returns the payload bytes sent.
pub fn send_fd(socket: &impl AsRawFd, payload: &[u8], fd: &impl AsRawFd) -> io::Result<usize> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    Ok(sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(payload)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?)
}

/// Receives one fd sent with [`send_fd`] (or by runc-compatible peers).
pub fn recv_fd(socket: &impl AsRawFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                return Ok(crate::sys::fs::own_received_fd(fd));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no file descriptor received on console socket",
    ))
}

/// Copies a window size from one terminal to another (SIGWINCH relay).
pub fn copy_winsize(from: &impl AsFd, to: &impl AsRawFd) {
    if let Ok(ws) = tty::get_winsize(&from.as_fd()) {
        let _ = tty::set_winsize(to, &ws);
    }
}

/// Where a terminal's pty master goes: the caller's `--console-socket`, or,
/// in the foreground, one end of a socketpair whose other end (returned
/// second) berth keeps to relay the terminal itself. `None`s without a
/// terminal.
pub fn socket_for(
    terminal: bool,
    console_socket: Option<&Path>,
) -> io::Result<(Option<OwnedFd>, Option<std::os::unix::net::UnixStream>)> {
    use std::os::unix::net::UnixStream;
    match (terminal, console_socket) {
        (true, Some(path)) => {
            let s = UnixStream::connect(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("connect console socket {}: {e}", path.display()),
                )
            })?;
            Ok((Some(OwnedFd::from(s)), None))
        }
        (true, None) => {
            let (a, b) = UnixStream::pair()?;
            Ok((Some(OwnedFd::from(b)), Some(a)))
        }
        (false, _) => Ok((None, None)),
    }
}
