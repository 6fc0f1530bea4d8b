//! The driver's end of `--console-socket`: a unix socket on which the runtime
//! sends the pty master of a `terminal: true` container (SCM_RIGHTS), and a
//! reader that collects the container's terminal output from that master.

use std::io::{IoSliceMut, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use nix::cmsg_space;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error("binding console socket {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("console socket: {0}")]
    Accept(#[source] std::io::Error),
    #[error("no pty master received within {0}s")]
    Timeout(u64),
    #[error("recvmsg on console socket: {0}")]
    Recv(#[source] nix::Error),
    #[error("the runtime sent no file descriptor")]
    NoFd,
}

/// Listens on `path`; in the background, accepts the runtime's connection,
/// takes the pty master and reads it until the container closes its side.
/// The receiver yields the output (or why there was none).
pub fn listen(
    path: &Path,
    timeout: Duration,
) -> Result<Receiver<Result<String, ConsoleError>>, ConsoleError> {
    let listener = UnixListener::bind(path).map_err(|source| ConsoleError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(ConsoleError::Accept)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(receive_master(&listener, timeout).map(read_to_eio));
    });
    Ok(rx)
}

fn receive_master(
    listener: &UnixListener,
    timeout: Duration,
) -> Result<std::fs::File, ConsoleError> {
    let deadline = Instant::now() + timeout;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(ConsoleError::Timeout(timeout.as_secs()))
            }
            Err(e) => return Err(ConsoleError::Accept(e)),
        }
    };
    stream
        .set_nonblocking(false)
        .map_err(ConsoleError::Accept)?;
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(ConsoleError::Recv)?;
    for cmsg in msg.cmsgs().map_err(ConsoleError::Recv)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                return Ok(std::fs::File::from(crate::sys::adopt_received_fd(*fd)));
            }
        }
    }
    Err(ConsoleError::NoFd)
}

/// A pty master reads EIO once every slave fd is closed: that is our EOF.
fn read_to_eio(mut master: std::fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}
