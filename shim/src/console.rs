//! The console socket: the runtime connects to it during `create` (or
//! `exec --tty`) and sends the pty master with SCM_RIGHTS, as runc does.
//! The listener has a backlog, so the shim may accept after the runtime
//! has returned.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// A listening console socket; the socket file goes with it.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds at `path` (which must not exist).
    pub fn bind(path: &Path) -> io::Result<Self> {
        Ok(ConsoleSocket {
            listener: UnixListener::bind(path)?,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and returns the pty master.
    /// Blocks: call it once the runtime has sent (after `create` returned).
    pub fn receive_master(&self) -> io::Result<OwnedFd> {
        let (conn, _) = self.listener.accept()?;
        recv_fd(&conn)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Receives one fd (and ignores the payload, the terminal's name).
pub fn recv_fd(socket: &impl AsRawFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut got = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                let owned = crate::sys::own_fd(fd);
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    got.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no file descriptor received on console socket",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{sendmsg, ControlMessage};
    use std::io::{IoSlice, Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn receives_an_fd_sent_before_accept() {
        let dir = std::env::temp_dir().join(format!("console-test-{}", std::process::id()));
        let _ = std::fs::create_dir(&dir);
        let sock = ConsoleSocket::bind(&dir.join("c.sock")).unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let conn = UnixStream::connect(sock.path()).unwrap();
        let fds = [w.as_raw_fd()];
        sendmsg::<()>(
            conn.as_raw_fd(),
            &[IoSlice::new(b"/dev/pts/9")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        drop(conn);
        drop(w);
        let got = sock.receive_master().unwrap();
        std::fs::File::from(got).write_all(b"hi").unwrap();
        let mut s = String::new();
        std::fs::File::from(r).read_to_string(&mut s).unwrap();
        assert_eq!(s, "hi");
        let path = sock.path().to_path_buf();
        drop(sock);
        assert!(!path.exists());
        let _ = std::fs::remove_dir(&dir);
    }
}
