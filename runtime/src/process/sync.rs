//! Typed messages between the launcher (parent) and the container's init over
//! a SOCK_SEQPACKET socketpair: one JSON message per packet, EOF when the
//! other side exits or execs (the init's end is close-on-exec, so EOF after
//! `Start` means the user process is running).

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, send, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Init -> launcher.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToParent {
    /// Intermediate mode: "I am in my new user namespace, write its maps".
    MapsPlease,
    /// Intermediate mode: the real init was forked with this (host) pid.
    Forked(i32),
    /// Mounts are done: run prestart and createRuntime hooks now.
    RuntimeHooks,
    /// The seccomp filter is installed; its notification fd rides along
    /// (SCM_RIGHTS) for the launcher to hand to the listener.
    SeccompListener,
    /// Fully set up, blocked until start.
    Ready,
    /// Parent-death signal cleared: the launcher may exit now.
    Detached,
    /// Setup failed; the text is the cause, shown to the user.
    Error(String),
}

/// Launcher -> init.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToChild {
    /// Id maps written and cgroups joined: go on.
    Continue,
    HooksDone,
    /// The state is on disk: the init may outlive the launcher.
    Committed,
    /// `run`: exec the user process now (create/start uses the fifo instead).
    Start,
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
    /// An fd that came with the last message received, until taken.
    received: RefCell<Option<OwnedFd>>,
}

/// Errors from the init are the longest messages; 8 KiB keeps a hook's
/// stderr readable without touching more memory on the start path.
const MAX_MESSAGE: usize = 8 * 1024;

/// A connected pair: (launcher end, init end), both close-on-exec.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel::new(a), Channel::new(b)))
}

impl Channel {
    fn new(fd: OwnedFd) -> Self {
        Channel {
            fd,
            received: RefCell::new(None),
        }
    }

    pub fn send<T: Serialize>(&self, msg: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).expect("sync messages serialize");
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)?;
        Ok(())
    }

    /// Sends `msg` with `fd` attached.
    pub fn send_with_fd<T: Serialize>(&self, msg: &T, fd: BorrowedFd<'_>) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).expect("sync messages serialize");
        crate::console::send_fd(&self.fd, &bytes, &fd)?;
        Ok(())
    }

    /// The fd that came with the last message, if any.
    pub fn take_fd(&self) -> Option<OwnedFd> {
        self.received.borrow_mut().take()
    }

    /// The next message, or None when the other side has gone (EOF).
    pub fn recv<T: DeserializeOwned>(&self) -> io::Result<Option<T>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let got = {
                let mut iov = [IoSliceMut::new(&mut buf)];
                recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                )
                .map(|m| {
                    for c in m.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for fd in fds {
                                let owned = crate::sys::fs::own_received_fd(fd);
                                *self.received.borrow_mut() = Some(owned);
                            }
                        }
                    }
                    m.bytes
                })
            };
            match got {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return serde_json::from_slice(&buf[..n])
                        .map(Some)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_roundtrip_and_eof() {
        let (p, c) = pair().unwrap();
        c.send(&ToParent::Error("mount /proc: EPERM".into()))
            .unwrap();
        c.send(&ToParent::Forked(42)).unwrap();
        assert_eq!(
            p.recv::<ToParent>().unwrap(),
            Some(ToParent::Error("mount /proc: EPERM".into()))
        );
        assert_eq!(p.recv::<ToParent>().unwrap(), Some(ToParent::Forked(42)));
        p.send(&ToChild::Start).unwrap();
        assert_eq!(c.recv::<ToChild>().unwrap(), Some(ToChild::Start));
        let (r, _w) = nix::unistd::pipe().unwrap();
        c.send_with_fd(&ToParent::SeccompListener, r.as_fd())
            .unwrap();
        assert_eq!(
            p.recv::<ToParent>().unwrap(),
            Some(ToParent::SeccompListener)
        );
        let got = p.take_fd().expect("fd passed");
        assert_ne!(got.as_raw_fd(), r.as_raw_fd());
        assert!(p.take_fd().is_none());
        drop(c);
        assert_eq!(p.recv::<ToParent>().unwrap(), None);
    }
}
